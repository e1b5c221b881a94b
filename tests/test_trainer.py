"""The training loop: learning, early stopping, divergence, determinism, schedules, clipping,
progress output, callbacks and the history."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mathflow as mf
import mathflow.nn as nn
import mathflow.optim as optim
from mathflow.data import Dataset, Pipeline, load_dataset, split
from mathflow.errors import MathflowError
from mathflow.nn.layer import Layer
from mathflow.train import (
    Callback,
    DivergenceError,
    EarlyStopping,
    History,
    LambdaCallback,
    ModelCheckpoint,
    Monitor,
    PlainProgress,
    QuietProgress,
    Trainer,
    binary_threshold,
    classification_pair,
    load_state,
    make_progress,
    resolve_mode,
)


# ---------------------------------------------------------------------------- helpers
def _regression_data(n: int = 200, features: int = 4, scale: float = 1.0, seed: int = 0, noise: float = 0.05):
    rng = np.random.default_rng(seed)
    w = scale * rng.standard_normal(features)
    x = rng.standard_normal((n, features)).astype(np.float32)
    y = (x @ w + noise * rng.standard_normal(n)).astype(np.float32)[:, None]
    return Dataset(x, y, "regression"), w


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


class Probe(Layer):
    """Identity layer that records the mode it was called in."""

    registry_name = "probe"

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def output_shape(self, input_shape):
        return tuple(input_shape)

    def forward(self, x):
        self.calls.append((self.training, mf.is_grad_enabled()))
        return x

    def get_config(self):
        return {}


class RecordingLoss(nn.MSE):
    """MSE that records the batch sizes it sees while a graph is recorded (training steps)."""

    def __init__(self):
        super().__init__()
        self.train_batches: list[int] = []

    def __call__(self, pred, target):
        if mf.is_grad_enabled():
            self.train_batches.append(pred.shape[0])
        return super().__call__(pred, target)


# ---------------------------------------------------------------------------- learning
@pytest.mark.parametrize("from_logits", [True, False])
def test_mlp_learns_moons(from_logits):
    ds = load_dataset({"moons": {"n": 300, "noise": 0.1}}, seed=0)
    parts = split(ds, {"train": 0.7, "test": 0.3}, seed=0)
    head = nn.Dense(1) if from_logits else nn.Dense(1, activation="sigmoid")
    model = nn.Sequential(nn.Dense(16, activation="tanh"), nn.Dense(16, activation="tanh"), head)
    trainer = Trainer(
        model,
        nn.BinaryCrossEntropy(from_logits=from_logits),
        lambda p: optim.Adam(p, lr=0.02),
        seed=0,
        progress="quiet",
    )
    history = trainer.fit(parts["train"], parts["test"], epochs=40, batch_size=32)
    assert history[0]["val_accuracy"] < 0.95 <= history[-1]["val_accuracy"]
    result = trainer.evaluate(parts["test"])
    assert result["accuracy"] >= 0.95
    assert result["loss"] == pytest.approx(history[-1]["val_loss"], rel=1e-6)


def test_iris_with_momentum_in_a_few_epochs():
    parts = split(load_dataset("iris"), {"train": 0.7, "test": 0.3}, seed=0)
    pipe = Pipeline(["standardize"]).fit(parts["train"])
    train, test = pipe.transform(parts["train"]), pipe.transform(parts["test"])
    model = nn.Sequential(nn.Dense(16, activation="relu"), nn.Dense(3))
    trainer = Trainer(
        model, nn.CrossEntropy(), lambda p: optim.Momentum(p, lr=0.02, momentum=0.9), seed=0, progress="quiet"
    )
    history = trainer.fit(train, epochs=12, batch_size=8)
    assert len(history) == 12
    assert trainer.evaluate(test)["accuracy"] >= 0.9


def test_regression_reaches_r2():
    train, _ = _regression_data(300, seed=3, noise=0.3)
    test, _ = _regression_data(100, seed=3, noise=0.3)
    model = nn.Sequential(nn.Dense(16, activation="tanh"), nn.Dense(1))
    trainer = Trainer(model, "mse", lambda p: optim.SGD(p, lr=0.05), metrics=("r2", "mae"), seed=0, progress="quiet")
    history = trainer.fit(train, epochs=20, batch_size=32)
    assert history["train_r2"][-1] > history["train_r2"][0]
    result = trainer.evaluate(test)
    assert result["r2"] > 0.8
    assert set(result) == {"loss", "r2", "mae"}


def test_trainer_matches_a_hand_written_loop():
    """Zeroed gradients, the partial last batch, the penalty in the gradient, weighted mean losses."""
    data, _ = _regression_data(50, seed=5)
    mf.get_backend().reseed(0)
    model = nn.Sequential(nn.Dense(8, activation="tanh"), nn.Dense(1))
    model.build((4,))
    start = model.state_dict()
    reg = nn.L2(1e-2)
    trainer = Trainer(
        model, nn.MSE(), optim.SGD(model.parameters(), lr=0.05), regularizers=[reg], metrics=(), progress="quiet"
    )
    history = trainer.fit(data, epochs=2, batch_size=16, shuffle=False)

    ref = nn.Sequential(nn.Dense(8, activation="tanh"), nn.Dense(1))
    ref.build((4,))
    ref.load_state_dict(start)
    loss_fn = nn.MSE()
    expected = []
    for _ in range(2):
        total = penalty_total = 0.0
        for i in range(0, 50, 16):
            xb, yb = data.x[i : i + 16], data.y[i : i + 16]
            data_loss = loss_fn(ref(xb), yb)
            penalty = reg(ref)
            (data_loss + penalty).backward()
            for p in ref.parameters():
                p.data -= 0.05 * p.grad.data
            ref.zero_grad()
            total += data_loss.item() * len(xb)
            penalty_total += penalty.item() * len(xb)
        expected.append(((total + penalty_total) / 50, penalty_total / 50))
    for logs, (loss, penalty) in zip(history, expected):
        assert logs["train_loss"] == pytest.approx(loss, rel=1e-9)
        assert logs["train_penalty"] == pytest.approx(penalty, rel=1e-9)
    final = model.state_dict()
    for key, value in ref.state_dict().items():
        np.testing.assert_allclose(final[key], value, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------- early stopping
def _u_shaped_run(restore_best: bool, patience: int = 3):
    """A linear model moves from ~0 towards w; the validation targets are 0.5·w, so the
    validation loss falls, then rises again."""
    rng = np.random.default_rng(0)
    w = np.full(4, 3.0)
    x = rng.standard_normal((200, 4)).astype(np.float32)
    xv = rng.standard_normal((100, 4)).astype(np.float32)
    train = Dataset(x, (x @ w).astype(np.float32)[:, None], "regression")
    val = Dataset(xv, (xv @ (0.5 * w)).astype(np.float32)[:, None], "regression")
    mf.get_backend().reseed(0)
    model = nn.Sequential(nn.Dense(1, kernel_init="zeros"))
    model.build((4,))
    snapshots: dict[int, dict] = {}
    trainer = Trainer(
        model,
        nn.MSE(),
        optim.SGD(model.parameters(), lr=0.01),
        metrics=(),
        early_stopping=EarlyStopping(patience=patience, restore_best=restore_best),
        callbacks=[lambda epoch, logs: snapshots.__setitem__(epoch, model.state_dict())],
        progress="quiet",
        seed=0,
    )
    history = trainer.fit(train, val, epochs=60, batch_size=32, shuffle=False)
    return trainer, history, snapshots


def test_early_stopping_stops_and_restores_the_best_weights():
    trainer, history, snapshots = _u_shaped_run(restore_best=True)
    best = history.best_epoch
    val = history["val_loss"]
    assert 1 < best < len(history) < 60
    assert val[best - 1] == min(val)
    assert all(v > val[best - 1] for v in val[best:])
    assert history.stopped_epoch == best + 3 == len(history)
    assert history.stop_reason.startswith("early stopping: val_loss did not improve")
    assert history.restored_epoch == best and history.restored_best
    assert _states_equal(trainer.model.state_dict(), snapshots[best])
    assert not _states_equal(trainer.model.state_dict(), snapshots[len(history)])


def test_early_stopping_without_restore_keeps_the_last_weights():
    trainer, history, snapshots = _u_shaped_run(restore_best=False)
    assert history.restored_epoch is None
    assert _states_equal(trainer.model.state_dict(), snapshots[len(history)])


def test_early_stopping_on_a_metric_maximises_it():
    stopper = EarlyStopping(monitor="val_accuracy", patience=2)
    ds = load_dataset({"moons": {"n": 100}}, seed=0)
    model = nn.Sequential(nn.Dense(8, activation="tanh"), nn.Dense(2))
    trainer = Trainer(
        model, nn.CrossEntropy(), lambda p: optim.SGD(p, lr=0.1), early_stopping=stopper, progress="quiet", seed=0
    )
    history = trainer.fit(ds, ds, epochs=3, batch_size=20)
    assert history.monitor == "val_accuracy" and history.mode == "max"
    assert stopper.tracker.mode == "max"
    assert history["val_accuracy"][history.best_epoch - 1] == max(history["val_accuracy"])


def test_early_stopping_needs_the_monitored_value():
    ds, _ = _regression_data(20)
    model = nn.Sequential(nn.Dense(1))
    trainer = Trainer(
        model, "mse", lambda p: optim.SGD(p), metrics=(), early_stopping={"patience": 2}, progress="quiet"
    )
    with pytest.raises(MathflowError, match="val_loss.*validation data"):
        trainer.fit(ds, epochs=2)
    with pytest.raises(MathflowError, match="patience"):
        EarlyStopping(patience=-1)


# ---------------------------------------------------------------------------- divergence
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_raises_naming_epoch_and_step():
    ds, _ = _regression_data(64, scale=10.0)
    model = nn.Sequential(nn.Dense(32, activation="relu"), nn.Dense(1))
    trainer = Trainer(model, "mse", lambda p: optim.SGD(p, lr=1e6), metrics=(), progress="quiet", seed=0)
    with pytest.raises(DivergenceError, match=r"loss became (nan|inf|-inf) at epoch \d+, step \d+: lower the learning"):
        trainer.fit(ds, epochs=20, batch_size=8)
    try:
        trainer.fit(ds, epochs=20, batch_size=8)
    except DivergenceError as exc:
        assert isinstance(exc, MathflowError)
        assert not math.isfinite(exc.value)
        assert exc.epoch >= 1 and 1 <= exc.step <= 8
        assert f"at epoch {exc.epoch}, step {exc.step}" in str(exc)
        assert trainer.history.stop_reason == "diverged"
        assert len(trainer.history) == exc.epoch - 1


# ---------------------------------------------------------------------------- determinism
def _seeded_run(seed: int):
    ds = load_dataset({"moons": {"n": 120}}, seed=0)
    model = nn.Sequential(nn.Dense(16, activation="relu"), nn.Dropout(0.3), nn.Dense(2))
    trainer = Trainer(
        model,
        nn.CrossEntropy(),
        lambda p: optim.Adam(p, lr=0.01),
        metrics=("accuracy", "f1"),
        seed=seed,
        progress="quiet",
    )
    history = trainer.fit(ds, ds, epochs=4, batch_size=16, shuffle=True)
    return history, model.state_dict()


def test_same_seed_gives_identical_runs():
    h1, s1 = _seeded_run(7)
    h2, s2 = _seeded_run(7)
    assert h1.epochs == h2.epochs
    assert h1 == h2
    assert _states_equal(s1, s2)
    h3, s3 = _seeded_run(8)
    assert h3.epochs != h1.epochs
    assert not _states_equal(s1, s3)


# ---------------------------------------------------------------------------- batching, modes
def test_last_partial_batch_is_used():
    ds, _ = _regression_data(50)
    loss = RecordingLoss()
    trainer = Trainer(nn.Sequential(nn.Dense(1)), loss, lambda p: optim.SGD(p), metrics=(), progress="quiet")
    trainer.fit(ds, epochs=3, batch_size=16)
    assert loss.train_batches == [16, 16, 16, 2] * 3
    assert trainer.samples_seen == 150
    assert trainer.global_step == 12


def test_training_mode_for_steps_and_eval_mode_without_graph_for_evaluation():
    ds, _ = _regression_data(30)
    probe = Probe()
    model = nn.Sequential(nn.Dense(4), probe, nn.Dense(1))
    trainer = Trainer(model, "mse", lambda p: optim.SGD(p), metrics=(), progress="quiet")
    trainer.fit(ds, ds, epochs=2, batch_size=10)
    # per epoch: 3 training steps, then 1 validation batch
    assert probe.calls == ([(True, True)] * 3 + [(False, False)]) * 2
    probe.calls.clear()
    trainer.evaluate(ds, batch_size=15)
    trainer.predict(ds.x, batch_size=15)
    assert probe.calls == [(False, False)] * 4
    assert not model.training


def test_predict_returns_eval_mode_outputs():
    ds = load_dataset({"moons": {"n": 40}}, seed=0)
    model = nn.Sequential(nn.Dense(8, activation="relu"), nn.Dropout(0.5), nn.Dense(2))
    trainer = Trainer(model, nn.CrossEntropy(), lambda p: optim.SGD(p), progress="quiet", seed=0)
    trainer.fit(ds, epochs=1)
    out = trainer.predict(ds, batch_size=7)
    assert isinstance(out, np.ndarray) and out.shape == (40, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out, trainer.predict(ds.x, batch_size=40))
    model.eval()
    np.testing.assert_allclose(out, model(ds.x).numpy(), rtol=1e-6)


def test_unbuilt_model_is_built_before_evaluate_and_predict():
    ds, _ = _regression_data(10)
    trainer = Trainer(
        nn.Sequential(nn.Dense(3), nn.Dense(1)), "mse", lambda p: optim.SGD(p), metrics=("r2",), progress="quiet"
    )
    assert trainer.predict(ds.x).shape == (10, 1)
    assert set(trainer.evaluate(ds)) == {"loss", "r2"}


# ---------------------------------------------------------------------------- schedules and clipping
class RecordingSchedule(optim.Schedule):
    registry_name = "recording"

    def __init__(self):
        self.steps: list[int] = []

    def lr_at(self, step, base_lr):
        self.steps.append(step)
        return base_lr * 0.5**step


def test_schedule_applied_per_epoch():
    ds, _ = _regression_data(40)
    schedule = RecordingSchedule()
    trainer = Trainer(
        nn.Sequential(nn.Dense(1)),
        "mse",
        lambda p: optim.SGD(p, lr=0.1),
        metrics=(),
        schedule=schedule,
        progress="quiet",
    )
    history = trainer.fit(ds, epochs=3, batch_size=10)
    assert schedule.steps == [0, 1, 2]
    assert history["lr"] == [0.1, 0.05, 0.025]


def test_schedule_applied_per_step():
    ds, _ = _regression_data(40)
    schedule = RecordingSchedule()
    trainer = Trainer(
        nn.Sequential(nn.Dense(1)),
        "mse",
        lambda p: optim.SGD(p, lr=0.1),
        metrics=(),
        schedule=schedule,
        schedule_unit="step",
        progress="quiet",
    )
    history = trainer.fit(ds, epochs=3, batch_size=10)
    assert schedule.steps == list(range(12))
    assert history["lr"] == [0.1 * 0.5**3, 0.1 * 0.5**7, 0.1 * 0.5**11]


def test_schedule_spec_and_bad_unit():
    trainer = Trainer(
        nn.Sequential(nn.Dense(1)),
        "mse",
        lambda p: optim.SGD(p),
        schedule={"name": "step", "step_size": 2},
        progress="quiet",
    )
    assert isinstance(trainer.schedule, optim.StepSchedule)
    with pytest.raises(MathflowError, match="schedule_unit"):
        Trainer(nn.Sequential(nn.Dense(1)), "mse", lambda p: optim.SGD(p), schedule_unit="batch")


def _one_step_change(**clip):
    ds, _ = _regression_data(32, scale=20.0)
    mf.get_backend().reseed(0)
    model = nn.Sequential(nn.Dense(1))
    model.build((4,))
    before = model.state_dict()
    trainer = Trainer(model, "mse", optim.SGD(model.parameters(), lr=1.0), metrics=(), progress="quiet", **clip)
    trainer.fit(ds, epochs=1, batch_size=32)
    after = model.state_dict()
    return np.concatenate([(after[k] - before[k]).ravel() for k in before])


def test_clip_value_bounds_every_update():
    free = _one_step_change()
    assert np.abs(free).max() > 1.0
    clipped = _one_step_change(clip_value=0.01)
    assert np.abs(clipped).max() <= 0.01 * (1 + 1e-6)


def test_clip_norm_bounds_the_global_update():
    free = _one_step_change()
    assert np.linalg.norm(free) > 1.0
    clipped = _one_step_change(clip_norm=0.5)
    assert np.linalg.norm(clipped) == pytest.approx(0.5, rel=1e-4)
    with pytest.raises(MathflowError, match="clip_norm"):
        Trainer(nn.Sequential(nn.Dense(1)), "mse", lambda p: optim.SGD(p), clip_norm=0.0)


# ---------------------------------------------------------------------------- progress output
def _small_fit(progress, epochs=3):
    ds, _ = _regression_data(30)
    trainer = Trainer(nn.Sequential(nn.Dense(1)), "mse", lambda p: optim.SGD(p), metrics=("r2",), progress=progress)
    return trainer.fit(ds, ds, epochs=epochs, batch_size=8)


def test_quiet_mode_prints_nothing(capsys):
    _small_fit("quiet")
    _small_fit(False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("progress", ["plain", None])
def test_plain_mode_prints_one_line_per_epoch(capsys, progress):
    _small_fit(progress, epochs=3)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {i}/3")
        for key in ("train_loss", "train_r2", "val_loss", "val_r2", "lr"):
            assert key in line


def test_make_progress_choices():
    assert isinstance(make_progress("quiet"), QuietProgress)
    assert isinstance(make_progress("plain"), PlainProgress)
    reporter = PlainProgress()
    assert make_progress(reporter) is reporter
    with pytest.raises(MathflowError, match="progress"):
        make_progress("loud")


def test_rich_progress_renders_epoch_lines():
    import io

    from mathflow.train import RichProgress

    buffer = io.StringIO()
    _small_fit(RichProgress(file=buffer), epochs=2)
    text = buffer.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "val_r2" in text


# ---------------------------------------------------------------------------- callbacks
def test_callbacks_receive_logs_and_can_stop():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, trainer):
            super().on_train_begin(trainer)
            events.append(("begin", sorted(trainer.log_keys)))

        def on_epoch_begin(self, epoch):
            events.append(("epoch_begin", epoch))

        def on_epoch_end(self, epoch, logs):
            events.append(("epoch_end", epoch, dict(logs)))
            if epoch == 2:
                self.trainer.stop("enough")

        def on_train_end(self, history):
            events.append(("end", len(history)))

    seen = []
    history = _small_fit_with_callbacks([Recorder(), lambda epoch, logs: seen.append((epoch, logs["val_loss"]))])
    keys = ["epoch", "lr", "train_loss", "train_r2", "val_loss", "val_r2"]
    assert events[0] == ("begin", sorted(keys))
    assert [e[0] for e in events[1:]] == ["epoch_begin", "epoch_end", "epoch_begin", "epoch_end", "end"]
    assert events[2][1] == 1 and sorted(events[2][2]) == sorted(keys)
    assert events[2][2] == history[0]
    assert events[-1] == ("end", 2)
    assert seen == [(1, history[0]["val_loss"]), (2, history[1]["val_loss"])]
    assert history.stopped_epoch == 2 and history.stop_reason == "enough"


def _small_fit_with_callbacks(callbacks, epochs=5):
    ds, _ = _regression_data(30)
    trainer = Trainer(
        nn.Sequential(nn.Dense(1)),
        "mse",
        lambda p: optim.SGD(p),
        metrics=("r2",),
        callbacks=callbacks,
        progress="quiet",
    )
    return trainer.fit(ds, ds, epochs=epochs, batch_size=8)


def test_keyboard_interrupt_keeps_the_history():
    def interrupt(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    ds, _ = _regression_data(30)
    trainer = Trainer(
        nn.Sequential(nn.Dense(1)),
        "mse",
        lambda p: optim.SGD(p),
        metrics=(),
        callbacks=[LambdaCallback(on_epoch_end=interrupt)],
        progress="quiet",
    )
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(ds, epochs=5)
    assert len(trainer.history) == 2
    assert trainer.history.stop_reason == "interrupted"


def test_model_checkpoint_keeps_and_saves_the_best(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "best", monitor="val_loss", restore_best=True)
    history = _small_fit_with_callbacks([checkpoint], epochs=4)
    assert checkpoint.best_epoch == history.best_epoch
    saved = load_state(tmp_path / "best.npz")
    assert _states_equal(saved, checkpoint.best_state)
    assert history.restored_epoch == history.best_epoch
    every = ModelCheckpoint(tmp_path / "e{epoch}", monitor="train_loss", save_best_only=False)
    _small_fit_with_callbacks([every], epochs=3)
    assert sorted(p.name for p in tmp_path.glob("e*.npz")) == ["e1.npz", "e2.npz", "e3.npz"]


def test_bad_callback_is_rejected():
    with pytest.raises(MathflowError, match="callback"):
        Trainer(nn.Sequential(nn.Dense(1)), "mse", lambda p: optim.SGD(p), callbacks=[42])


# ---------------------------------------------------------------------------- metrics on outputs
def test_binary_threshold_follows_the_loss():
    assert binary_threshold(nn.BinaryCrossEntropy(from_logits=True)) == 0.0
    assert binary_threshold(nn.Hinge()) == 0.0
    assert binary_threshold(nn.BinaryCrossEntropy()) == 0.5
    assert binary_threshold(nn.MSE()) == 0.5


def test_classification_pair():
    logits = np.array([[-0.2], [0.1], [3.0], [-4.0]], dtype=np.float32)
    t, p = classification_pair(logits, np.array([0, 1, 1, 0]), 0.0)
    np.testing.assert_array_equal(p, [0, 1, 1, 0])
    t, p = classification_pair(logits, np.array([[-1.0], [1.0], [1.0], [-1.0]]), 0.0)  # hinge labels
    np.testing.assert_array_equal(t, [0, 1, 1, 0])
    probs = np.array([0.2, 0.6, 0.4], dtype=np.float32)
    _, p = classification_pair(probs, np.array([0, 1, 1]), 0.5)
    np.testing.assert_array_equal(p, [0, 1, 0])
    scores = np.eye(3, dtype=np.float32)
    t, p = classification_pair(scores, np.array([0, 1, 2]), 0.5)
    assert p is scores


def test_hinge_training_reports_accuracy_on_pm1_labels():
    ds = load_dataset({"moons": {"n": 200}}, seed=0)
    signed = Dataset(ds.x, (2.0 * ds.y - 1.0).astype(np.float32)[:, None], "regression")
    model = nn.Sequential(nn.Dense(16, activation="tanh"), nn.Dense(1))
    trainer = Trainer(model, nn.Hinge(), lambda p: optim.Adam(p, lr=0.02), seed=0, progress="quiet")
    history = trainer.fit(signed, epochs=25, batch_size=20)
    assert history[-1]["train_accuracy"] >= 0.9


def test_unusable_metric_and_optimizer_are_rejected():
    with pytest.raises(MathflowError, match="confusion_matrix"):
        Trainer(nn.Sequential(nn.Dense(1)), "mse", lambda p: optim.SGD(p), metrics=("confusion_matrix",))
    other = nn.Sequential(nn.Dense(1))
    other.build((4,))
    ds, _ = _regression_data(10)
    trainer = Trainer(nn.Sequential(nn.Dense(1)), "mse", optim.SGD(other.parameters()), metrics=(), progress="quiet")
    with pytest.raises(MathflowError, match="none of the model's parameters"):
        trainer.fit(ds, epochs=1)
    with pytest.raises(MathflowError, match="epochs"):
        trainer.fit(ds, epochs=0)


# ---------------------------------------------------------------------------- history
def test_history_tracks_the_best_epoch():
    h = History(monitor="val_accuracy", mode="max")
    for i, acc in enumerate([0.5, 0.7, 0.65, 0.7], start=1):
        h.append({"epoch": i, "val_accuracy": acc, "train_loss": 1.0 / i})
    assert h.best_epoch == 2 and h.best_value == 0.7
    assert h.best == h[1]
    assert h["val_accuracy"] == [0.5, 0.7, 0.65, 0.7]
    assert h.keys() == ["epoch", "val_accuracy", "train_loss"]
    assert h.to_dict()["best_epoch"] == 2
    with pytest.raises(MathflowError, match="no 'val_loss'"):
        h["val_loss"]


def test_monitor_and_modes():
    m = Monitor("val_loss", "min", min_delta=0.1)
    assert m.update(1.0) and not m.update(0.95) and m.update(0.85)
    assert not m.update(float("nan"))
    assert resolve_mode("val_loss") == "min"
    assert resolve_mode("train_accuracy") == "max"
    assert resolve_mode("val_mae") == "min"
    assert resolve_mode("val_r2", "min") == "min"
    with pytest.raises(MathflowError):
        resolve_mode("lr")


# ---------------------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_fit_on_the_gpu_backend():
    ds = load_dataset({"moons": {"n": 200}}, seed=0)
    model = nn.Sequential(nn.Dense(16, activation="tanh"), nn.Dense(2))
    trainer = Trainer(
        model, nn.CrossEntropy(), lambda p: optim.Adam(p, lr=0.02), backend="gpu", seed=0, progress="quiet"
    )
    history = trainer.fit(ds, ds, epochs=20, batch_size=32)
    assert trainer.backend.device == "gpu" and trainer.sync_every_step is False  # losses read once per epoch
    assert type(model.parameters()[0].data).__module__.startswith("cupy")
    assert history[-1]["val_accuracy"] >= 0.9
    out = trainer.predict(ds.x)
    assert isinstance(out, np.ndarray) and out.shape == (200, 2)


@pytest.mark.gpu
def test_divergence_on_the_gpu_names_its_step():
    ds, _ = _regression_data(64, scale=10.0)
    model = nn.Sequential(nn.Dense(32, activation="relu"), nn.Dense(1))
    trainer = Trainer(
        model, "mse", lambda p: optim.SGD(p, lr=1e6), metrics=(), progress="quiet", seed=0, backend="gpu"
    )
    with pytest.raises(DivergenceError) as info:
        trainer.fit(ds, epochs=20, batch_size=8)
    assert 1 <= info.value.step <= 8 and f"at epoch {info.value.epoch}, step {info.value.step}" in str(info.value)
