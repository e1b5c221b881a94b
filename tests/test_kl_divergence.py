"""kl_divergence: values, gradient (q − p)/n, torch, label targets, and its checks in a pipeline."""

import numpy as np
import pytest

import mathflow as mf
from mathflow.nn import LOSSES


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _case(seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(4, 3))
    p = _softmax(rng.normal(size=(4, 3)))
    p[0] = [0.0, 0.5, 0.5]  # 0·log 0 = 0
    return z, p


def test_value_and_gradient():
    z, p = _case()
    q = _softmax(z)
    loss = LOSSES.get("kl_divergence")()
    safe = np.where(p > 0, p, 1)
    expected = (p * (np.log(safe) - np.log(q))).sum() / len(z)
    assert loss(z, p).item() == pytest.approx(expected, rel=1e-12)
    grad = mf.grad(lambda v: loss(v, p))(z)
    np.testing.assert_allclose(grad.numpy(), (q - p) / len(z), rtol=1e-10)
    assert LOSSES.get("kl_divergence")(reduction="sum")(z, p).item() == pytest.approx(expected * len(z))


def test_zero_for_equal_distributions_and_finite_differences():
    z, _ = _case(1)
    loss = LOSSES.get("kl_divergence")()
    assert loss(z, _softmax(z)).item() == pytest.approx(0.0, abs=1e-12)
    _, p = _case(2)
    assert mf.gradcheck(lambda v: loss(v, p), z)
    assert mf.gradgradcheck(lambda v: loss(v, p), z)


def test_labels_give_cross_entropy():
    z, _ = _case(3)
    labels = np.array([0, 2, 1, 1])
    kl = LOSSES.get("kl_divergence")()(z, labels).item()
    ce = LOSSES.get("cross_entropy")()(z, labels).item()
    assert kl == pytest.approx(ce, rel=1e-12)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    z, p = _case(4)
    expected = torch.nn.functional.kl_div(
        torch.log_softmax(torch.tensor(z), dim=1), torch.tensor(p), reduction="batchmean"
    ).item()
    assert LOSSES.get("kl_divergence")()(z, p).item() == pytest.approx(expected, rel=1e-10)


def test_pipeline_checks_its_output(tmp_path):
    from mathflow.pipeline import load_pipeline as validate_file

    text = (
        "name: kl\ndata: {source: iris}\nmodel:\n  layers:\n    - dense: {units: 3}\n"
        "    - softmax\nloss: kl_divergence\noptimizer: adam\n"
    )
    path = tmp_path / "kl.yaml"
    path.write_text(text)
    with pytest.raises(Exception, match="kl_divergence takes raw scores .logits. and applies softmax itself"):
        validate_file(str(path))
    path.write_text(text.replace("units: 3", "units: 4").replace("    - softmax\n", ""))
    with pytest.raises(Exception, match="kl_divergence needs one output unit per class: iris"):
        validate_file(str(path))
    path.write_text(text.replace("    - softmax\n", ""))
    validate_file(str(path))
