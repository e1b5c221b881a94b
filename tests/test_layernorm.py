"""layernorm: per-sample statistics, derivatives, torch, and a pipeline that uses it."""

import numpy as np
import pytest

import mathflow as mf
from mathflow.nn import LAYERS


def test_each_sample_is_normalised():
    layer = LAYERS.get("layernorm")()
    x = np.random.default_rng(0).normal(loc=5.0, scale=3.0, size=(6, 10))
    y = layer(x).numpy()
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.var(axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(layer.eval()(x).numpy(), y)  # no batch statistics


def test_gradients_against_finite_differences():
    with mf.backend.using("cpu", dtype="float64", seed=0):
        layer = LAYERS.get("layernorm")(axes=2)
        x = np.random.default_rng(1).normal(size=(3, 2, 4))
        layer.build((2, 4))
        params = dict(layer.named_parameters())
        layer.gamma.data = np.random.default_rng(2).normal(size=(2, 4))

        def f(v, g, b):
            return layer.functional_call({"gamma": g, "beta": b}, v)

        assert mf.gradcheck(f, x, layer.gamma.data, params["beta"].data)
        assert mf.gradgradcheck(lambda v: layer(v), x)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).normal(size=(4, 3, 5))
    with mf.backend.using("cpu", dtype="float64", seed=0):
        ours = LAYERS.get("layernorm")(axes=2)(x).numpy()
    theirs = torch.nn.functional.layer_norm(torch.tensor(x), (3, 5), eps=1e-5).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_bad_arguments_and_shapes():
    with pytest.raises(mf.MathflowError, match="axes must be a positive integer"):
        LAYERS.get("layernorm")(axes=0)
    with pytest.raises(mf.ShapeError, match="normalises the last 2 axes"):
        LAYERS.get("layernorm")(axes=2).output_shape((4,))


def test_in_a_pipeline(tmp_path):
    from mathflow.pipeline import load_pipeline

    path = tmp_path / "ln.yaml"
    path.write_text(
        "name: ln\ndata: {source: iris}\nmodel:\n  layers:\n    - dense: {units: 8}\n    - layernorm\n"
        "    - relu\n    - dense: {units: 3}\nloss: cross_entropy\noptimizer: adam\n"
    )
    _, compiled = load_pipeline(str(path))
    assert [n.output_shape for n in compiled.graph] == [(8,), (8,), (8,), (3,)]
