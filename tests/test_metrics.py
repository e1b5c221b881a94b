"""Metrics: hand-computed confusion matrices and scores, input forms, sklearn parity, errors."""

from __future__ import annotations

import numpy as np
import pytest

import mathflow as mf
from mathflow.errors import MathflowError, ShapeError
from mathflow.metrics import (
    METRICS,
    Accuracy,
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
    assert METRICS.get("accuracy") is Accuracy and METRICS.get("acc") is Accuracy
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


# ---------------------------------------------------------------------- parameters
AVERAGES = ("macro", "micro", "weighted")


def _imbalanced(rng, num_classes, size):
    """Labels with unequal class sizes and predictions that miss one class and invent another."""
    y = rng.choice(
        num_classes, size=size, p=np.linspace(1.0, 3.0, num_classes) / np.linspace(1.0, 3.0, num_classes).sum()
    )
    pred = np.where(rng.random(size) < 0.6, y, rng.integers(0, num_classes + 1, size=size))
    pred[pred == 1] = 0  # class 1 is never predicted; class num_classes never occurs in y
    return y, pred


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
def test_averages_match_sklearn(name, average):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    theirs = {
        "precision": sklearn_metrics.precision_score,
        "recall": sklearn_metrics.recall_score,
        "f1": sklearn_metrics.f1_score,
    }[name]
    metric = mf.metrics.resolve_metric({name: {"average": average}})
    assert metric.name == f"{name}_{average}"
    rng = np.random.default_rng(11)
    for num_classes in (2, 3, 6):
        y, pred = _imbalanced(rng, num_classes, 300)
        expected = theirs(y, pred, average=average, zero_division=0)
        assert metric.fn(y, pred) == pytest.approx(expected, rel=1e-12, abs=1e-15)
        scores = rng.random((300, num_classes + 1))
        scores[np.arange(300), pred] += 1.0  # the same predictions as class scores
        assert metric.fn(y, scores) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_micro_averages_equal_accuracy_and_weighted_differs_from_macro():
    y, pred = _imbalanced(np.random.default_rng(3), 4, 200)
    for fn in (precision, recall, f1):
        assert fn(y, pred, average="micro") == pytest.approx(accuracy(y, pred))
    assert f1(y, pred, average="weighted") != pytest.approx(f1(y, pred, average="macro"))
    with pytest.raises(MathflowError, match="average must be 'macro', 'micro' or 'weighted'"):
        f1(y, pred, average="binary")


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_parameter_matches_sklearn(k):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(k)
    y = rng.integers(0, 5, size=150)
    scores = rng.standard_normal((150, 5))
    metric = mf.metrics.resolve_metric({"top_k": {"k": k}})
    assert metric.name == f"top_{k}_accuracy" and metric.higher_is_better is True
    expected = sklearn_metrics.top_k_accuracy_score(y, scores, k=k, labels=np.arange(5))
    assert metric.fn(y, scores) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        ("acc", "accuracy"),
        ("top_k", "top_5_accuracy"),
        ({"type": "top_k_accuracy", "k": 2}, "top_2_accuracy"),
        ("f1", "f1_macro"),
        ({"precision": None}, "precision_macro"),
        ({"recall": {"average": "weighted"}}, "recall_weighted"),
        ("mean_squared_error", "mse"),
        ("r2", "r2"),
    ],
)
def test_logged_names_say_the_parameters(spec, label):
    metric = mf.metrics.resolve_metric(spec)
    assert metric.name == label
    # the registry answers for the logged name too (early stopping's direction, the task)
    assert mf.metrics.metric_named(label) is mf.metrics.METRICS.get(metric.config.type)
    assert higher_is_better(label) is metric.higher_is_better


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"f1": {"average": "mean"}}, "metric 'f1': average: Input should be 'macro', 'micro' or 'weighted'"),
        ({"top_k": {"kk": 3}}, "metric 'top_k': kk: Extra inputs are not permitted"),
        ("f2", "unknown metric 'f2'"),
        ({"f1": 3}, "the parameters of metric 'f1' must be a mapping"),
    ],
)
def test_bad_metric_entries_in_python_raise(spec, message):
    with pytest.raises(MathflowError, match=message):
        mf.metrics.resolve_metric(spec)


def _validate(tmp_path, metrics: str, extra: str = "") -> list[str]:
    from mathflow.compiler import compile_pipeline
    from mathflow.config import ConfigError, load_config
    from mathflow.schema import validate_spec

    path = tmp_path / "p.yaml"
    path.write_text(
        "version: 1\nname: t\ndata: {source: iris, split: {train: 0.6, val: 0.2, test: 0.2}}\n"
        "model:\n  layers: [{dense: {units: 3}}]\nloss: cross_entropy\noptimizer: sgd\n"
        f"metrics: {metrics}\n{extra}",
        encoding="utf-8",
    )
    document = load_config(str(path))
    try:
        compile_pipeline(validate_spec(document), document)
    except ConfigError as exc:
        return [line.replace(str(path), "p.yaml") for line in exc.format().splitlines()]
    return []


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ("[{top_k: {kk: 2}}]", "p.yaml:8:20: top_k_accuracy has no parameter 'kk'"),
        (
            "[{f1: {average: mean}}]",
            "p.yaml:8:26: 'average' must be 'macro', 'micro' or 'weighted', got a string 'mean'",
        ),
        ("[{top_k: {k: 3}}]", "p.yaml:8:23: top_k_accuracy with k=3 counts every sample as a hit on 3 classes"),
        ("[{type: top_k, k: 4}]", "p.yaml:8:28: top_k_accuracy with k=4 counts every sample as a hit on 3 classes"),
        ("[f1, {f1: {average: macro}}]", "p.yaml:8:15: metric 'f1_macro' is listed twice (also metrics[0])"),
        ("[confusion_matrix]", "p.yaml:8:11: metric 'confusion_matrix' is not a single number"),
    ],
)
def test_metric_mistakes_are_located(tmp_path, metrics, expected):
    found = _validate(tmp_path, metrics)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_parameterised_metrics_validate_train_and_are_monitored(tmp_path):
    metrics = "[accuracy, {top_k: {k: 2}}, {f1: {average: weighted}}, {recall: {average: micro}}]"
    assert _validate(tmp_path, metrics, "train: {early_stopping: {monitor: val_f1_weighted}}\n") == []
    wrong = _validate(tmp_path, metrics, "train: {early_stopping: {monitor: val_f1}}\n")
    assert len(wrong) == 1 and "early_stopping monitors 'val_f1', which is not logged" in wrong[0], wrong

    from mathflow.config import load_config
    from mathflow.schema import validate_spec

    spec = validate_spec(load_config(str(tmp_path / "p.yaml")))
    assert spec.to_data()["metrics"] == [
        "accuracy",
        {"top_k": {"k": 2}},
        {"f1": {"average": "weighted"}},
        {"recall": {"average": "micro"}},
    ]
    from mathflow import nn, optim
    from mathflow.data import load_dataset
    from mathflow.train import Trainer

    ds = load_dataset("iris", seed=0)
    trainer = Trainer(
        nn.Sequential(nn.Dense(3)),
        nn.CrossEntropy(),
        lambda p: optim.SGD(p, lr=0.1),
        metrics=spec.metrics,
        early_stopping={"monitor": "val_f1_weighted", "patience": 50},
        seed=0,
        progress="quiet",
    )
    last = trainer.fit(ds, ds, epochs=2, batch_size=32)[-1]
    for key in ("val_accuracy", "val_top_2_accuracy", "val_f1_weighted", "train_recall_micro"):
        assert 0.0 <= last[key] <= 1.0, key
    assert last["val_recall_micro"] == pytest.approx(last["val_accuracy"])
    assert sorted(trainer.evaluate(ds, 64)) == ["accuracy", "f1_weighted", "loss", "recall_micro", "top_2_accuracy"]


def test_a_metric_is_its_class_called_on_the_data():
    from mathflow.metrics import F1, MSEMetric, TopK

    y, pred = _imbalanced(np.random.default_rng(5), 3, 60)
    metric = F1(average="weighted")
    assert metric(y, pred) == f1(y, pred, average="weighted")
    assert metric.label() == "f1_weighted" and F1().label() == "f1_macro"
    assert TopK(k=3).label() == "top_3_accuracy" and TopK().k == 5
    assert TopK(k=3).check_fit(3)[0] == "k" and TopK(k=2).check_fit(3) is None
    assert (MSEMetric.higher_is_better, MSEMetric.task) == (False, "regression")
    # the plain functions carry their metric's direction and task (a trainer may be given them)
    assert (mse.higher_is_better, mse.task, f1.task) == (False, "regression", "classification")
    # the constructor is checked against its declaration, as a pipeline entry is
    with pytest.raises(MathflowError, match="top_k_accuracy: k must be a positive integer, got 0"):
        TopK(k=0)
    with pytest.raises(MathflowError, match="f1: average is not one of macro, micro, weighted"):
        F1(average="binary")
