"""Checkpoints and ``mathflow resume``: a stopped run continues from its last checkpoint and, on CPU,
ends with exactly (bit for bit) the weights and metrics of the uninterrupted run.

In-process: the trainer (epoch and mid-epoch checkpoints, every optimizer), the checkpoint files, and
``run_pipeline`` runs stopped by a real SIGINT or by an error, resumed with :func:`mathflow.resume.resume`.
Through the CLI once: a real ``mathflow run`` killed with SIGINT after a checkpoint, ``mathflow resume``,
and the refusal of a FINISHED run (3 subprocesses).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import cli_env

import mathflow.nn as nn
import mathflow.optim as optim
from mathflow.data import load_dataset
from mathflow.errors import MathflowError
from mathflow.tracking.signals import RunInterrupted
from mathflow.train import ModelCheckpoint, Trainer
from mathflow.train.checkpoint import (
    ARRAYS_FILE,
    META_FILE,
    Checkpoint,
    auto_checkpoint_every,
    resolve_checkpoint_every,
)
from mathflow.train.progress import QuietProgress

EPOCHS = 8

OPTIMIZERS = {
    "adam": lambda p: optim.Adam(p, lr=0.01),
    "adamw": lambda p: optim.AdamW(p, lr=0.01),
    "momentum": lambda p: optim.Momentum(p, lr=0.05),
    "nesterov": lambda p: optim.Nesterov(p, lr=0.05),
    "rmsprop": lambda p: optim.RMSProp(p, lr=0.01),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.05),
}


@pytest.fixture(scope="module")
def moons():
    return load_dataset({"moons": {"n": 120}}, seed=0)


class StopAt:
    """A stop flag that raises RunInterrupted (as a signal would) before step ``at`` of the run."""

    def __init__(self, at: int | None):
        self.at, self.calls = at, 0

    def check(self) -> None:
        self.calls += 1
        if self.calls == self.at:
            raise RunInterrupted(signal.SIGINT)


def _trainer(make_opt, saved: list | None = None, stop: StopAt | None = None, every: int = 3) -> Trainer:
    model = nn.Sequential(nn.Dense(16, activation="relu"), nn.Dropout(0.3), nn.Dense(2))
    return Trainer(
        model,
        nn.CrossEntropy(),
        make_opt,
        regularizers=nn.L2(1e-3),
        metrics=("accuracy",),
        schedule={"name": "cosine", "t_max": 10},
        early_stopping={"monitor": "val_loss", "patience": 100},
        seed=3,
        progress="quiet",
        stop_flag=stop,
        checkpoint_every=every,
        on_checkpoint=None if saved is None else saved.append,
    )


def _through_files(checkpoint: Checkpoint, folder: Path) -> Checkpoint:
    checkpoint.save(folder)
    return Checkpoint.load(folder)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def uninterrupted(moons):
    """name -> (history, final weights, global step) of the uninterrupted run with each optimizer."""
    out = {}
    for name, make_opt in OPTIMIZERS.items():
        trainer = _trainer(make_opt)
        history = trainer.fit(moons, moons, epochs=EPOCHS, batch_size=16)
        out[name] = (history, trainer.model.state_dict(), trainer.global_step)
    return out


def _resume_and_compare(moons, make_opt, checkpoint: Checkpoint, reference) -> None:
    history, weights, steps = reference
    resumed = _trainer(make_opt)
    resumed.resume_from(checkpoint)
    again = resumed.fit(moons, moons, epochs=EPOCHS, batch_size=16)
    assert again.epochs == history.epochs  # every epoch's logs, the restored ones and the new ones
    assert (again.best_epoch, again.restored_epoch) == (history.best_epoch, history.restored_epoch)
    assert _same(resumed.model.state_dict(), weights)
    assert resumed.global_step == steps


# ---------------------------------------------------------------------------- the trainer
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resuming_an_epoch_checkpoint_is_bit_identical(moons, uninterrupted, tmp_path, name) -> None:
    saved: list[Checkpoint] = []
    _trainer(OPTIMIZERS[name], saved).fit(moons, moons, epochs=EPOCHS, batch_size=16)
    assert [c.epoch for c in saved] == [3, 6]  # every 3rd epoch; never a partial epoch
    assert all(c.partial_steps == 0 for c in saved)
    _resume_and_compare(moons, OPTIMIZERS[name], _through_files(saved[0], tmp_path), uninterrupted[name])


@pytest.mark.parametrize("at", [1, 30])  # before the first step; in the middle of epoch 4 (8 steps per epoch)
def test_a_stop_checkpoints_the_epoch_in_progress_and_resumes_bit_identically(moons, uninterrupted, tmp_path, at):
    saved: list[Checkpoint] = []
    with pytest.raises(RunInterrupted):
        _trainer(OPTIMIZERS["adam"], saved, StopAt(at)).fit(moons, moons, epochs=EPOCHS, batch_size=16)
    last = saved[-1]
    assert (last.epoch, last.partial_steps) == ((0, 0) if at == 1 else (3, 5))
    assert last.where() == ("epoch 0" if at == 1 else "epoch 3 + 5 steps of epoch 4")
    _resume_and_compare(moons, OPTIMIZERS["adam"], _through_files(last, tmp_path), uninterrupted["adam"])


def test_the_random_state_matters(moons, uninterrupted) -> None:
    """The bit-for-bit comparison can fail: a checkpoint whose dropout generator is moved on does not
    reach the uninterrupted run's weights."""
    saved: list[Checkpoint] = []
    _trainer(OPTIMIZERS["adam"], saved).fit(moons, moons, epochs=EPOCHS, batch_size=16)
    state = saved[0].state
    other = np.random.default_rng(99)
    state["rng"]["backend"] = other.bit_generator.state
    resumed = _trainer(OPTIMIZERS["adam"])
    resumed.resume_from(Checkpoint(state))
    history = resumed.fit(moons, moons, epochs=EPOCHS, batch_size=16)
    assert uninterrupted["adam"][0].best_epoch > 3  # the final weights are not the restored ones of epoch <= 3
    assert history.epochs[:3] == uninterrupted["adam"][0].epochs[:3]
    assert history.epochs[3:] != uninterrupted["adam"][0].epochs[3:]
    assert not _same(resumed.model.state_dict(), uninterrupted["adam"][1])


def test_checkpoint_every_zero_writes_none_even_when_stopped(moons) -> None:
    saved: list[Checkpoint] = []
    with pytest.raises(RunInterrupted):
        _trainer(OPTIMIZERS["adam"], saved, StopAt(30), every=0).fit(moons, moons, epochs=EPOCHS, batch_size=16)
    assert saved == []


def test_the_default_period_checkpoints_only_long_runs() -> None:
    assert [auto_checkpoint_every(e) for e in (1, 10, 49, 50, 100, 1000)] == [0, 0, 0, 5, 10, 100]
    assert resolve_checkpoint_every(None, 200) == 20
    assert resolve_checkpoint_every(7, 200) == 7
    with pytest.raises(MathflowError, match="checkpoint_every must be an integer >= 0"):
        resolve_checkpoint_every(-1, 10)


# ---------------------------------------------------------------------------- the files
def test_the_files_are_plain_npz_and_json_and_a_torn_pair_is_refused(moons, tmp_path) -> None:
    saved: list[Checkpoint] = []
    _trainer(OPTIMIZERS["adam"], saved).fit(moons, moons, epochs=EPOCHS, batch_size=16)
    saved[0].save(tmp_path / "a")
    saved[1].save(tmp_path / "b")
    meta = json.loads((tmp_path / "a" / META_FILE).read_text())
    assert meta["version"] == 1 and meta["state"]["epoch"] == 3
    assert meta["state"]["rng"]["shuffle"]["bit_generator"] == "PCG64"
    with np.load(tmp_path / "a" / ARRAYS_FILE, allow_pickle=False) as arrays:  # no object arrays
        keys = set(arrays.files)
    assert {"model/0.weight", "optimizer/state/0/m", "optimizer/state/0/v"} <= keys
    assert any(key.startswith("early_stopping/best_state/") for key in keys)
    os.replace(tmp_path / "b" / ARRAYS_FILE, tmp_path / "a" / ARRAYS_FILE)  # the npz of another checkpoint
    with pytest.raises(MathflowError, match="does not match its state.json"):
        Checkpoint.load(tmp_path / "a")
    with pytest.raises(MathflowError, match="cannot read the checkpoint file state.json"):
        Checkpoint.load(tmp_path / "missing")


def test_a_checkpoint_of_another_setup_is_refused(moons) -> None:
    saved: list[Checkpoint] = []
    _trainer(OPTIMIZERS["adam"], saved).fit(moons, moons, epochs=EPOCHS, batch_size=16)
    other = _trainer(OPTIMIZERS["rmsprop"])
    other.resume_from(saved[0])
    with pytest.raises(MathflowError, match="cannot load the state of a 'adam' optimizer"):
        other.fit(moons, moons, epochs=EPOCHS, batch_size=16)
    rescheduled = _trainer(OPTIMIZERS["adam"])
    rescheduled.schedule = optim.build_schedule({"name": "cosine", "t_max": 11})
    rescheduled.resume_from(saved[0])
    with pytest.raises(MathflowError, match="the checkpoint was made with the schedule .*'t_max': 10"):
        rescheduled.fit(moons, moons, epochs=EPOCHS, batch_size=16)
    shorter = _trainer(OPTIMIZERS["adam"])
    shorter.resume_from(saved[1])
    with pytest.raises(MathflowError, match="past the 4 epochs of this run"):
        shorter.fit(moons, moons, epochs=4, batch_size=16)


def _with_model_checkpoint(folder: Path, saved: list | None = None) -> tuple[Trainer, ModelCheckpoint]:
    """The adam trainer with a ModelCheckpoint that keeps the epoch of the *highest* val_loss: the
    first one, so a resumed run finds it only in the restored state."""
    callback = ModelCheckpoint(folder / "best-{epoch}.npz", monitor="val_loss", mode="max")
    trainer = _trainer(OPTIMIZERS["adam"], saved)
    trainer.add_callbacks([callback])
    return trainer, callback


def test_a_resumed_run_restores_the_state_of_every_stateful_callback(moons, tmp_path) -> None:
    """ModelCheckpoint's best value, epoch, weights and written files travel in the checkpoint (as plain
    npz arrays and JSON) and come back: the resumed run ends with the uninterrupted run's."""
    whole, expected = _with_model_checkpoint(tmp_path)
    whole.fit(moons, moons, epochs=EPOCHS, batch_size=16)
    assert expected.best_epoch is not None and expected.best_epoch <= 3  # before the checkpoint below
    saved: list[Checkpoint] = []
    _with_model_checkpoint(tmp_path, saved)[0].fit(moons, moons, epochs=EPOCHS, batch_size=16)
    checkpoint = _through_files(saved[0], tmp_path / "checkpoint")
    assert saved[0].epoch == 3
    meta = json.loads((tmp_path / "checkpoint" / META_FILE).read_text())
    (entry,) = meta["state"]["callbacks"]
    assert entry["type"] == "ModelCheckpoint" and entry["state"]["best_epoch"] == expected.best_epoch
    with np.load(tmp_path / "checkpoint" / ARRAYS_FILE, allow_pickle=False) as arrays:
        assert any(key.startswith("callbacks/0/state/best_state/") for key in arrays.files)

    resumed, callback = _with_model_checkpoint(tmp_path)
    resumed.resume_from(checkpoint)
    resumed.fit(moons, moons, epochs=EPOCHS, batch_size=16)
    assert callback.best_epoch == expected.best_epoch
    assert callback.tracker is not None and expected.tracker is not None
    assert callback.tracker.best == expected.tracker.best
    assert callback.best_state is not None and expected.best_state is not None
    assert _same(callback.best_state, expected.best_state)
    assert callback.saved == expected.saved == [tmp_path / f"best-{expected.best_epoch}.npz"]
    assert _same(resumed.model.state_dict(), whole.model.state_dict())

    fresh = _trainer(OPTIMIZERS["adam"])  # a checkpoint with a callback's state needs that callback
    fresh.resume_from(checkpoint)
    with pytest.raises(MathflowError, match="holds the state of the callbacks ModelCheckpoint; this run has none"):
        fresh.fit(moons, moons, epochs=EPOCHS, batch_size=16)


# ---------------------------------------------------------------------------- runs: run_pipeline + resume
PIPELINE = """\
version: 1
name: resumable
seed: 3
data:
  source: iris
  split: {train: 0.6, val: 0.2, test: 0.2}
  transforms: [standardize]
model:
  layers:
    - dense: {units: 16, activation: relu}
    - dropout: {rate: 0.3}
    - dense: {units: 3}
loss: cross_entropy
regularizers:
  - l2: {lambda: 1.0e-4}
optimizer:
  adam: {lr: 0.01}
schedule:
  cosine: {t_max: 40}
train:
  epochs: 12
  batch_size: 16
  checkpoint_every: 2
  early_stopping: {monitor: val_loss, patience: 100}
metrics: [accuracy]
tracking:
  experiment: resume
"""


class _Fault(QuietProgress):
    """A progress display that, after epoch ``at``, sends this process SIGINT or raises an error."""

    def __init__(self, at: int, how: str):
        self.at, self.how = at, how

    def epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if epoch == self.at:
            if self.how == "signal":
                os.kill(os.getpid(), signal.SIGINT)  # recorded by the run's handler; training stops at the next step
            else:
                raise RuntimeError("disk on fire")


def test_a_negative_checkpoint_every_is_a_located_error(tmp_path) -> None:
    from mathflow.pipeline import load_pipeline

    bad = tmp_path / "bad.yaml"
    bad.write_text(PIPELINE.replace("checkpoint_every: 2", "checkpoint_every: -1"))
    with pytest.raises(MathflowError) as caught:
        load_pipeline(bad)
    assert re.match(r".*bad\.yaml:23:21: 'checkpoint_every' must be ≥ 0, got -1", caught.value.format())


def _compared(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k != "train_seconds"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A store with the uninterrupted run, and runs stopped by SIGINT after epoch 5, by an error after
    epoch 5 and by SIGINT with checkpoints off."""
    from mathflow.run import run_pipeline

    folder = tmp_path_factory.mktemp("runs")
    pipeline = folder / "p.yaml"
    pipeline.write_text(PIPELINE)
    uri = f"sqlite:///{(folder / 'mlflow.db').as_posix()}"
    out = {"uri": uri, "pipeline": pipeline}
    out["full"] = run_pipeline(pipeline, tracking_uri=uri, quiet=True)
    with pytest.raises(RunInterrupted) as killed:
        run_pipeline(pipeline, tracking_uri=uri, progress=_Fault(5, "signal"))
    out["killed"] = killed.value.run_id
    with pytest.raises(RuntimeError):
        run_pipeline(pipeline, tracking_uri=uri, progress=_Fault(5, "error"))
    with pytest.raises(RunInterrupted) as bare:
        run_pipeline(pipeline, ["train.checkpoint_every=0"], tracking_uri=uri, progress=_Fault(1, "signal"))
    out["bare"] = bare.value.run_id
    return out


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _failed_run_id(uri: str) -> str:
    mlf = _client(uri)
    exp = mlf.get_experiment_by_name("resume")
    return mlf.search_runs([exp.experiment_id], "attributes.status = 'FAILED'")[0].info.run_id


@pytest.mark.slow
@pytest.mark.parametrize("which", ["killed", "failed"])
def test_a_stopped_run_resumes_to_the_uninterrupted_runs_metrics(runs, which) -> None:
    from mathflow.resume import resume

    uri = runs["uri"]
    old_id = runs["killed"] if which == "killed" else _failed_run_id(uri)
    result = resume(old_id, tracking_uri=uri, quiet=True)
    assert result.status == "FINISHED" and result.run_id != old_id
    assert _compared(result.metrics) == _compared(runs["full"].metrics)  # bit for bit
    assert result.history.epochs == runs["full"].history.epochs
    mlf = _client(uri)
    new = mlf.get_run(result.run_id)
    assert new.data.tags["mathflow.resumed_from"] == old_id
    # SIGINT after epoch 5 stops at the first step of epoch 6; an error leaves the periodic checkpoint of epoch 4
    where = "epoch 5" if which == "killed" else "epoch 4"
    assert new.data.tags["mathflow.resumed_at"] == where
    assert mlf.get_experiment(new.info.experiment_id).name == "resume"
    curve = [m.step for m in mlf.get_metric_history(result.run_id, "val_loss")]
    assert sorted(curve) == list(range(1, 13))  # the restored epochs are logged too
    full = {m.step: m.value for m in mlf.get_metric_history(runs["full"].run_id, "val_loss")}
    assert {m.step: m.value for m in mlf.get_metric_history(result.run_id, "val_loss")} == full


@pytest.mark.slow
def test_what_cannot_be_resumed_gets_a_clear_message(runs) -> None:
    from mathflow.resume import resume

    uri = runs["uri"]
    full_id = runs["full"].run_id
    with pytest.raises(MathflowError, match=f"run {full_id} FINISHED: there is nothing to resume") as finished:
        resume(full_id, tracking_uri=uri)
    assert f"mathflow rerun {full_id}" in finished.value.format()
    with pytest.raises(MathflowError, match=f"run {runs['bare']} has no checkpoint to resume from"):
        resume(runs["bare"], tracking_uri=uri)
    with pytest.raises(MathflowError, match="no run 'feedface' in sqlite:///"):
        resume("feedface", tracking_uri=uri)


# ---------------------------------------------------------------------------- the CLI (3 subprocesses)


@pytest.mark.slow
def test_cli_run_killed_by_sigint_then_resumed_matches_the_uninterrupted_run(runs, tmp_path) -> None:
    from mathflow.run import run_pipeline

    long_run = ["train.epochs=100", "train.checkpoint_every=2", "schedule.cosine.t_max=100"]
    command = [sys.executable, "-m", "mathflow.cli"]
    proc = subprocess.Popen(
        [*command, "run", str(runs["pipeline"]), *(a for o in long_run for a in ("--set", o))],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # epoch 3's line: the checkpoint of epoch 2 is logged by then
            if re.match(r"epoch\s+3/", line):
                break
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    killed = re.search(r"run ([0-9a-f]{32}) was stopped and marked KILLED", err)
    assert killed, err

    done = subprocess.run(
        [*command, "resume", killed.group(1), "--json", "-q"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["resumed_from"] == killed.group(1) and summary["status"] == "FINISHED"
    assert re.search(rf"resuming KILLED run {killed.group(1)} from its checkpoint at epoch \d+", done.stderr)

    store = f"sqlite:///{(tmp_path / 'runs' / 'mlflow.db').as_posix()}"
    full = run_pipeline(runs["pipeline"], long_run, tracking_uri=store, quiet=True)
    assert _compared(summary["metrics"]) == _compared(full.metrics)  # bit for bit, through JSON
    assert (summary["epochs"], summary["steps"]) == (full.epochs, full.steps)  # early stopping at the same epoch

    refused = subprocess.run(
        [*command, "resume", full.run_id], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600
    )
    assert refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"run {full.run_id} FINISHED: there is nothing to resume" in lines[0], refused.stderr
