"""Metrics: hand-computed confusion matrices and scores, input forms, sklearn parity, errors."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
from mathflow.errors import MathflowError, ShapeError
from mathflow.metrics import (
    METRICS,
    accuracy,
    confusion_matrix,
    f1,
    higher_is_better,
    mae,
    mse,
    precision,
    r2,
    recall,
    top_k_accuracy,
)

# three classes, six samples
Y_TRUE = np.array([0, 1, 2, 2, 1, 0])
Y_PRED = np.array([0, 2, 2, 2, 1, 1])
# rows = truth, columns = prediction
CM = np.array(
    [
        [1, 1, 0],  # class 0: one right, one called 1
        [0, 1, 1],  # class 1: one right, one called 2
        [0, 0, 2],  # class 2: both right
    ]
)


def _one_hot_scores(labels, num_classes, rng):
    """Random scores whose argmax is ``labels``."""
    scores = rng.random((len(labels), num_classes))
    scores[np.arange(len(labels)), labels] += 1.0
    return scores


def test_registry_and_direction_flags():
    for name in ["accuracy", "top_k_accuracy", "precision", "recall", "f1", "confusion_matrix", "mse", "mae", "r2"]:
        assert name in METRICS
    assert METRICS.get("accuracy") is accuracy
    for name in ["accuracy", "top_k_accuracy", "precision", "recall", "f1", "r2"]:
        assert higher_is_better(name) is True
        assert METRICS.get(name).higher_is_better is True
    for name in ["mse", "mae"]:
        assert higher_is_better(name) is False
    with pytest.raises(MathflowError, match="not a single number"):
        higher_is_better("confusion_matrix")


def test_confusion_matrix_by_hand():
    np.testing.assert_array_equal(confusion_matrix(Y_TRUE, Y_PRED), CM)
    padded = confusion_matrix(Y_TRUE, Y_PRED, num_classes=4)
    assert padded.shape == (4, 4) and padded[:3, :3].tolist() == CM.tolist() and padded[3].sum() == 0


def test_accuracy_by_hand():
    assert accuracy(Y_TRUE, Y_PRED) == pytest.approx(4 / 6)


def test_precision_recall_f1_by_hand():
    # precision per class: 1/1, 1/2, 2/3;  recall: 1/2, 1/2, 2/2
    assert precision(Y_TRUE, Y_PRED) == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    assert recall(Y_TRUE, Y_PRED) == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    # F1 per class = 2PR/(P+R): 2/3, 1/2, 4/5
    assert f1(Y_TRUE, Y_PRED) == pytest.approx((2 / 3 + 0.5 + 0.8) / 3)


def test_zero_division_counts_as_zero():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 0])  # class 1 never predicted
    # precision: class 0 = 2/4, class 1 = 0/0 → 0
    assert precision(y_true, y_pred) == pytest.approx(0.25)
    assert recall(y_true, y_pred) == pytest.approx(0.5)
    # F1: class 0 = 2·2/(4 + 2 + 0) = 2/3, class 1 = 0
    assert f1(y_true, y_pred) == pytest.approx(1 / 3)
    # a class that never occurs at all counts only when num_classes asks for it
    assert recall(y_true, y_pred, num_classes=3) == pytest.approx(1 / 3)


def test_class_scores_probabilities_and_one_hot_forms():
    rng = np.random.default_rng(0)
    scores = _one_hot_scores(Y_PRED, 3, rng)
    one_hot_true = np.eye(3)[Y_TRUE]
    assert accuracy(Y_TRUE, scores) == pytest.approx(4 / 6)
    assert accuracy(one_hot_true, scores) == pytest.approx(4 / 6)
    np.testing.assert_array_equal(confusion_matrix(one_hot_true, scores), CM)

    y_true = np.array([1, 0, 1, 1])
    probs = np.array([0.9, 0.4, 0.2, 0.51])  # predicted 1, 0, 0, 1
    assert accuracy(y_true, probs) == pytest.approx(0.75)
    assert accuracy(y_true[:, None].astype(np.float32), probs[:, None]) == pytest.approx(0.75)
    assert accuracy(y_true, probs, threshold=0.95) == pytest.approx(0.25)
    np.testing.assert_array_equal(confusion_matrix(y_true, probs), [[1, 0], [1, 2]])


def test_tensor_inputs():
    scores = mf.tensor([[0.1, 0.9], [0.8, 0.2]])
    assert accuracy(mf.tensor([1.0, 1.0]), scores) == pytest.approx(0.5)
    assert mse(mf.tensor([1.0, 2.0]), mf.tensor([1.0, 4.0])) == pytest.approx(2.0)


def test_top_k_accuracy_by_hand():
    scores = np.array(
        [
            [0.5, 0.3, 0.2],  # true 0: rank 1
            [0.5, 0.3, 0.2],  # true 1: rank 2
            [0.5, 0.3, 0.2],  # true 2: rank 3
            [0.1, 0.2, 0.7],  # true 2: rank 1
        ]
    )
    y = np.array([0, 1, 2, 2])
    assert top_k_accuracy(y, scores, k=1) == pytest.approx(0.5)
    assert top_k_accuracy(y, scores, k=2) == pytest.approx(0.75)
    assert top_k_accuracy(y, scores, k=3) == pytest.approx(1.0)
    assert top_k_accuracy(y, scores, k=10) == pytest.approx(1.0)
    assert top_k_accuracy(y, scores, k=1) == accuracy(y, scores)


def test_regression_metrics_by_hand():
    y = np.array([1.0, 2.0, 3.0])
    p = np.array([1.0, 2.0, 4.0])
    assert mse(y, p) == pytest.approx(1 / 3)
    assert mae(y, p) == pytest.approx(1 / 3)
    # SS_res = 1, SS_tot = 2 → R² = 1 − 1/2
    assert r2(y, p) == pytest.approx(0.5)
    assert r2(y, y) == 1.0
    assert r2(y, np.full(3, 2.0)) == pytest.approx(0.0)
    # (N,) against (N, 1) compares sample by sample, not as an (N, N) broadcast
    assert mse(y, p[:, None]) == pytest.approx(1 / 3)
    assert r2(y[:, None], p) == pytest.approx(0.5)
    # a constant target: 1 when predicted exactly, else 0
    assert r2(np.ones(3), np.ones(3)) == 1.0
    assert r2(np.ones(3), np.array([1.0, 1.0, 2.0])) == 0.0


def test_r2_multi_output_is_the_column_mean():
    y = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]])
    p = np.array([[1.0, 0.0], [2.0, 1.0], [4.0, 1.0]])
    # column 0: 1 − 1/2; column 1: 1 − 1/2
    assert r2(y, p) == pytest.approx(0.5)


def test_results_are_python_floats():
    assert type(accuracy(Y_TRUE, Y_PRED)) is float
    assert type(f1(Y_TRUE, Y_PRED)) is float
    assert type(mse([1.0], [2.0])) is float


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: accuracy([0, 1, 1], [0, 1]), ShapeError, "accuracy: y_true has 3 samples, y_pred has 2"),
        (lambda: accuracy([], []), MathflowError, "accuracy: no samples"),
        (lambda: accuracy([0.5, 1.0], [0, 1]), MathflowError, "y_true must hold class labels"),
        (lambda: accuracy(np.zeros((2, 2, 2)), [0, 1]), ShapeError, r"y_true of shape \(2, 2, 2\)"),
        (lambda: accuracy([0, 1], [1.5, 2.5]), MathflowError, "y_pred must hold class labels"),
        (lambda: confusion_matrix([0, 3], [0, 1], num_classes=3), MathflowError, "label 3 is out of range"),
        (lambda: confusion_matrix([0, -1], [0, 1]), MathflowError, "class labels must be >= 0"),
        (lambda: confusion_matrix([0, 1], [0, 1], num_classes=0), MathflowError, "num_classes must be"),
        (lambda: top_k_accuracy([0, 1], [0.2, 0.9], k=1), ShapeError, r"must be class scores of shape \(N, C\)"),
        (lambda: top_k_accuracy([0, 1], np.eye(2), k=0), MathflowError, "k must be an integer >= 1"),
        (lambda: top_k_accuracy([0, 5], np.eye(2), k=1), MathflowError, r"labels must lie in \[0, 2\)"),
        (lambda: mse([1.0, 2.0, 3.0], [1.0, 2.0]), ShapeError, r"mse: y_true of shape \(3,\) and y_pred"),
        (lambda: r2(np.ones((2, 3)), np.ones((3, 2))), ShapeError, "r2: y_true of shape"),
        (lambda: mae([], []), MathflowError, "mae: no samples"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_match_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    for num_classes in (2, 3, 5):
        y = rng.integers(0, num_classes, size=200)
        scores = rng.random((200, num_classes))
        pred = scores.argmax(axis=1)
        assert accuracy(y, scores) == pytest.approx(sklearn_metrics.accuracy_score(y, pred))
        np.testing.assert_array_equal(confusion_matrix(y, scores), sklearn_metrics.confusion_matrix(y, pred))
        for ours, theirs in [
            (precision, sklearn_metrics.precision_score),
            (recall, sklearn_metrics.recall_score),
            (f1, sklearn_metrics.f1_score),
        ]:
            expected = theirs(y, pred, average="macro", zero_division=0)
            assert ours(y, scores) == pytest.approx(expected, rel=1e-12)
        if num_classes > 2:
            for k in (1, 2):
                expected = sklearn_metrics.top_k_accuracy_score(y, scores, k=k, labels=np.arange(num_classes))
                assert top_k_accuracy(y, scores, k=k) == pytest.approx(expected)

    # a class the predictions never use: zero division → 0, as sklearn's zero_division=0
    y = rng.integers(0, 4, size=50)
    pred = np.where(y == 3, 0, y)
    for ours, theirs in [
        (precision, sklearn_metrics.precision_score),
        (recall, sklearn_metrics.recall_score),
        (f1, sklearn_metrics.f1_score),
    ]:
        assert ours(y, pred) == pytest.approx(theirs(y, pred, average="macro", zero_division=0), rel=1e-12)

    t = rng.standard_normal((40, 3))
    p = t + 0.3 * rng.standard_normal((40, 3))
    assert mse(t, p) == pytest.approx(sklearn_metrics.mean_squared_error(t, p))
    assert mae(t, p) == pytest.approx(sklearn_metrics.mean_absolute_error(t, p))
    assert r2(t, p) == pytest.approx(sklearn_metrics.r2_score(t, p))
    assert r2(t[:, 0], p[:, 0]) == pytest.approx(sklearn_metrics.r2_score(t[:, 0], p[:, 0]))
