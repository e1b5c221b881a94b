"""One training run recorded in MLflow: parameters, metrics, tags, artifacts, inputs and the model.

    tracker = Tracker()                       # --tracking-uri / $MLFLOW_TRACKING_URI / ./runs/mlflow.db
    with tracker.start("digits", run_name="mlp", config_sha256=sha, pipeline_path="pipelines/x.yaml") as run:
        run.log_params(config)                # nested → dotted keys
        run.log_metrics({"loss": 0.3}, step=1)
        run.log_model(constants, description, input_example=x[:5])

Leaving the ``with`` block normally marks the run FINISHED; an exception marks it FAILED and records
the one-line reason in the tag ``mathflow.error``; Ctrl-C marks it KILLED. What was logged stays.
MLflow is imported inside the methods only.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from mathflow.errors import MathflowError
from mathflow.tracking.flatten import clean_key, flatten, flatten_params, to_text, truncate
from mathflow.tracking.signals import RunInterrupted
from mathflow.tracking.store import (
    HEARTBEAT_TAG,
    ensure_store,
    get_or_create_experiment,
    quiet_loggers,
    resolve_tracking_uri,
    store_lock,
)
from mathflow.tracking.store import client as store_client

TAG_VALUE_LIMIT = 8000
"""MLflow's maximum tag value length (``mlflow.utils.validation.MAX_TAG_VAL_LENGTH``)."""

ERROR_TAG = "mathflow.error"
SIGNAL_TAG = "mathflow.signal"
HEARTBEAT_INTERVAL = 5.0
"""Seconds between two heartbeat writes, at most one per interval."""
MODEL_NAME = "model"
INPUT_EXAMPLE_ROWS = 5
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000


def _param_value_limit() -> int:
    try:
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

        return int(MAX_PARAM_VAL_LENGTH)
    except (ImportError, AttributeError):
        from mathflow.tracking.flatten import PARAM_VALUE_LIMIT

        return PARAM_VALUE_LIMIT


def error_reason(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` (one line, at most 1000 characters)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return truncate(text, 1000)


# --------------------------------------------------------------------------------------------------
# standard tags
# --------------------------------------------------------------------------------------------------
def _git(args: list[str], cwd: Path) -> str | None:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_info(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{"commit", "dirty", "root"}`` of the git repository holding ``path``; empty outside a repository
    (or before its first commit, or without git).

    ``dirty`` is ``"true"`` when tracked files differ from the commit (``git status --porcelain``, ignoring
    untracked files such as the run store) or when ``path`` itself is not committed.
    """
    target = Path(path).expanduser().resolve()
    where = target if target.is_dir() else target.parent
    if not where.is_dir():
        return {}
    commit = _git(["rev-parse", "HEAD"], where)
    root = _git(["rev-parse", "--show-toplevel"], where)
    if not commit or not root:
        return {}
    status = _git(["status", "--porcelain", "--untracked-files=no"], where)
    dirty = status is None or bool(status.strip())
    if not dirty and target.is_file():
        dirty = _git(["ls-files", "--error-unmatch", "--", str(target)], where) is None
    return {"commit": commit.strip(), "dirty": "true" if dirty else "false", "root": root.strip()}


def _device_name() -> str:
    try:
        from mathflow.backend import get_backend

        return str(get_backend().device_name)
    except Exception:  # noqa: BLE001 - a tag must never stop a run
        return "unknown"


def standard_tags(
    config_sha256: str | None = None,
    pipeline_path: str | os.PathLike[str] | None = None,
    device: str | None = None,
) -> dict[str, str]:
    """Versions, device, config hash, the pipeline file and its git commit (when it is in a repository)."""
    import numpy as np

    from mathflow import __version__

    tags = {
        "mathflow.version": __version__,
        "mathflow.numpy_version": np.__version__,
        "mathflow.python_version": sys.version.split()[0],
        "mathflow.device": device or _device_name(),
        "mlflow.source.type": "LOCAL",
    }
    cupy = sys.modules.get("cupy")
    if cupy is not None and hasattr(cupy, "__version__"):
        tags["mathflow.cupy_version"] = str(cupy.__version__)
    if config_sha256:
        tags["mathflow.config_sha256"] = str(config_sha256)
    try:
        tags["mlflow.user"] = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        pass
    if pipeline_path is not None:
        pipeline = Path(pipeline_path).expanduser().resolve()
        tags["mathflow.pipeline"] = pipeline.as_posix()
        tags["mlflow.source.name"] = pipeline.as_posix()
        git = git_info(pipeline)
        if git:
            tags["mathflow.git.commit"] = git["commit"]
            tags["mathflow.git.dirty"] = git["dirty"]
            tags["mlflow.source.git.commit"] = git["commit"]
    return tags


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def heartbeat_text(unix_time: float) -> str:
    """A heartbeat tag value: the UNIX time in seconds with millisecond digits."""
    return f"{unix_time:.3f}"


def _jsonable(value: Any) -> Any:
    """``value`` with NumPy/CuPy arrays and scalars turned into plain Python (for JSON/YAML artifacts)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return value.tolist() if not hasattr(value, "get") else value.get().tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _to_numpy(array: Any) -> Any:
    from mathflow.backend import to_numpy

    return to_numpy(array.data if hasattr(array, "requires_grad") and hasattr(array, "data") else array)


def _metric_value(key: str, value: Any) -> float:
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError) as exc:
        raise MathflowError(f"metric {key!r} must be a number, got {value!r}") from exc


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI set to ``uri`` (and ``$MLFLOW_TRACKING_URI``, which MLflow
    sets along with it) for the block, then both restored. Needed around MLflow calls that resolve
    ``runs:/`` or ``models:/`` URIs, e.g. ``mlflow.artifacts.download_artifacts``."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    previous = getattr(tracking_utils, "_tracking_uri", None)
    previous_env = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if previous_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous_env


# --------------------------------------------------------------------------------------------------
# the API
# --------------------------------------------------------------------------------------------------
class Tracker:
    """Entry point: ``Tracker(tracking_uri).start(experiment, run_name, tags) -> TrackedRun``."""

    def __init__(self, tracking_uri: str | None = None, *, cwd: str | os.PathLike[str] | None = None):
        self.tracking_uri = resolve_tracking_uri(tracking_uri, cwd)

    def __repr__(self) -> str:
        return f"Tracker({self.tracking_uri!r})"

    def start(
        self,
        experiment: str,
        run_name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        *,
        config_sha256: str | None = None,
        pipeline_path: str | os.PathLike[str] | None = None,
        device: str | None = None,
        description: str | None = None,
    ) -> TrackedRun:
        """Create the experiment if needed and start a run in it, carrying the standard tags plus ``tags``."""
        ensure_store(self.tracking_uri)
        experiment_id = get_or_create_experiment(self.tracking_uri, experiment)
        all_tags = standard_tags(config_sha256, pipeline_path, device)
        all_tags.update({clean_key(str(k)): truncate(to_text(v), TAG_VALUE_LIMIT) for k, v in (tags or {}).items()})
        if description:
            all_tags["mlflow.note.content"] = truncate(str(description), TAG_VALUE_LIMIT)
        all_tags[HEARTBEAT_TAG] = heartbeat_text(time.time())
        client = store_client(self.tracking_uri)
        run = client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        return TrackedRun(self.tracking_uri, run.info.run_id, experiment_id, experiment, client)


class TrackedRun:
    """A started run. Use it as a context manager, or call :meth:`end` yourself."""

    def __init__(self, tracking_uri: str, run_id: str, experiment_id: str, experiment: str, client: Any):
        import mlflow

        self.tracking_uri = tracking_uri
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.experiment = experiment
        self.client = client
        self.status: str = "RUNNING"
        self.model_uri: str | None = None
        self.model_info: Any = None
        self._params: dict[str, str] = {}
        self._param_limit = _param_value_limit()
        self._last_beat = time.monotonic()
        self._uri_ctx = using_tracking_uri(tracking_uri)
        self._uri_ctx.__enter__()
        try:
            # The run is also MLflow's active run, so that fluent calls (log_model, autolog) land in it.
            mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None)
        except BaseException as exc:
            self.status = "FAILED"
            self._uri_ctx.__exit__(None, None, None)
            client.set_tag(run_id, ERROR_TAG, error_reason(exc))
            client.set_terminated(run_id, "FAILED")
            raise

    def __repr__(self) -> str:
        return f"TrackedRun(run_id={self.run_id!r}, experiment={self.experiment!r}, status={self.status!r})"

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None:
            self.end("FINISHED")
            return False
        try:
            if isinstance(exc, RunInterrupted):
                self._end_interrupted(exc)
            elif isinstance(exc, KeyboardInterrupt):
                self.end("KILLED", reason="KeyboardInterrupt: interrupted by the user")
            elif isinstance(exc, SystemExit) and exc.code in (None, 0):
                self.end("FINISHED")
            else:
                self.end("FAILED", reason=error_reason(exc))
        except Exception as end_exc:  # noqa: BLE001 - never hide the run's own exception
            from mathflow.tracking.store import store_fault

            if store_fault(end_exc) is None:  # a store fault is reported once, with the run's own error
                warnings.warn(f"could not record the end of MLflow run {self.run_id}: {end_exc}", stacklevel=2)
        return False

    def _end_interrupted(self, exc: RunInterrupted) -> None:
        """End the run KILLED for the stop signal ``exc`` (its name in ``mathflow.signal``)."""
        self.client.set_tag(self.run_id, SIGNAL_TAG, exc.name)
        self.end("KILLED", reason=exc.reason())
        exc.run_id = self.run_id

    @property
    def artifact_uri(self) -> str:
        """Where the run's artifacts live (``<experiment artifact location>/<run id>/artifacts``)."""
        return str(self.client.get_run(self.run_id).info.artifact_uri)

    @property
    def ended(self) -> bool:
        return self.status != "RUNNING"

    def end(self, status: str = "FINISHED", reason: str | None = None) -> None:
        """Mark the run ``FINISHED``, ``FAILED`` or ``KILLED`` (a reason goes to the ``mathflow.error`` tag)."""
        import mlflow

        status = status.upper()
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise MathflowError(f"run status must be FINISHED, FAILED or KILLED, got {status!r}")
        if self.ended:
            return
        try:
            if reason:
                self.client.set_tag(self.run_id, ERROR_TAG, truncate(reason, TAG_VALUE_LIMIT))
            active = mlflow.active_run()
            # MLflow prints "View run ... at: URL" for server stores; stdout stays ours (--json)
            with contextlib.redirect_stdout(sys.stderr):
                if active is not None and active.info.run_id == self.run_id:
                    mlflow.end_run(status)
                else:
                    self.client.set_terminated(self.run_id, status)
        finally:
            self.status = status
            self._uri_ctx.__exit__(None, None, None)

    def _check_open(self, what: str) -> None:
        if self.ended:
            raise MathflowError(f"{what}: run {self.run_id} has already ended ({self.status})")

    # -- params, metrics, tags -------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
        """Log the nested ``params`` as dotted keys (``model.layers.0.dense.units``), values as text cut
        to MLflow's length limit. Re-logging a key with the same value is a no-op; another value is an error.
        Returns the flat parameters."""
        from mlflow.entities import Param

        self._check_open("log_params")
        flat = flatten_params(params, prefix, limit=self._param_limit)
        fresh: dict[str, str] = {}
        for key, value in flat.items():
            old = self._params.get(key)
            if old is None:
                fresh[key] = value
            elif old != value:
                raise MathflowError(
                    f"parameter {key!r} was already logged as {old!r}; MLflow cannot change it to {value!r}"
                )
        items = list(fresh.items())
        for i in range(0, len(items), _PARAMS_PER_BATCH):
            chunk = [Param(k, v) for k, v in items[i : i + _PARAMS_PER_BATCH]]
            self.client.log_batch(self.run_id, params=chunk, synchronous=True)
        self._params.update(fresh)
        return flat

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log numeric ``metrics`` (nested mappings become dotted keys) at ``step`` (default 0)."""
        self.log_metric_steps([(0 if step is None else step, metrics, time.time())])

    def log_metric_steps(self, entries: Iterable[tuple[int, Mapping[str, Any], float]]) -> None:
        """Log the metrics of several steps in one store write: ``(step, metrics, UNIX time when
        measured)`` each, the metrics as in :meth:`log_metrics`."""
        from mlflow.entities import Metric

        self._check_open("log_metrics")
        rows = [
            Metric(clean_key(k), _metric_value(k, v), int(when * 1000), int(step))
            for step, metrics, when in entries
            for k, v in flatten(metrics).items()
            if k != ""
        ]
        for i in range(0, len(rows), _METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=rows[i : i + _METRICS_PER_BATCH], synchronous=True)
        self.heartbeat()

    def heartbeat(self, force: bool = False) -> None:
        """Record that the run is alive (the ``mathflow.heartbeat`` tag, a UNIX time), at most once every
        :data:`HEARTBEAT_INTERVAL` seconds unless ``force``. Call it from the main thread at step or epoch
        boundaries; ``mathflow runs`` shows a RUNNING run whose heartbeat is old as ``DEAD?``."""
        now = time.monotonic()
        if self.ended or (not force and now - self._last_beat < HEARTBEAT_INTERVAL):
            return
        self._last_beat = now
        self.client.set_tag(self.run_id, HEARTBEAT_TAG, heartbeat_text(time.time()))

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        self.log_metrics({key: value}, step)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (values as text, cut to MLflow's tag length limit)."""
        from mlflow.entities import RunTag

        rows = [RunTag(clean_key(str(k)), truncate(to_text(v), TAG_VALUE_LIMIT)) for k, v in tags.items()]
        for i in range(0, len(rows), _PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, tags=rows[i : i + _PARAMS_PER_BATCH], synchronous=True)

    # -- artifacts ---------------------------------------------------------------------------
    def log_text(self, text: str, artifact_path: str) -> None:
        """``text`` as the artifact file ``artifact_path`` (e.g. ``"config/resolved.yaml"``)."""
        self.client.log_text(self.run_id, text, artifact_path)

    def log_dict(self, data: Mapping[str, Any] | list[Any], artifact_path: str) -> None:
        """``data`` as JSON (or YAML for a ``.yaml``/``.yml`` path); NumPy values become plain lists/numbers."""
        self.client.log_dict(self.run_id, _jsonable(data), artifact_path)

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """Copy a local file, or a folder's contents, into the run's artifacts (under ``artifact_path``)."""
        local = Path(path)
        if local.is_dir():
            self.client.log_artifacts(self.run_id, str(local), artifact_path)
        elif local.is_file():
            self.client.log_artifact(self.run_id, str(local), artifact_path)
        else:
            raise MathflowError(f"log_artifact: no file or folder at {local}")

    def log_figure(self, fig: Any, artifact_path: str) -> None:
        """A matplotlib figure as an image artifact (``.png``, ``.svg``, ``.pdf`` by the path's suffix)."""
        use_agg()
        self.client.log_figure(self.run_id, fig, artifact_path)

    def list_artifacts(self, path: str | None = None) -> list[str]:
        """Paths of the run's artifacts (recursively) under ``path``."""
        out: list[str] = []
        pending = [path]
        while pending:
            for info in self.client.list_artifacts(self.run_id, pending.pop()):
                (pending.append(info.path) if info.is_dir else out.append(info.path))
        return sorted(out)

    # -- dataset -----------------------------------------------------------------------------
    def log_input(
        self,
        dataset_name: str,
        digest: str | None = None,
        source: str | None = None,
        features: Any = None,
        targets: Any = None,
        *,
        context: str = "training",
        profile: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the data set the run read (``mlflow.data``): name, digest, source and, from ``features`` /
        ``targets`` arrays, MLflow's schema and profile. ``profile`` adds ``key → value`` tags to the input.

        ``source`` is a path or URL (resolved by MLflow), or any other text such as ``sklearn:digits``.
        """
        import mlflow.data
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        self._check_open("log_input")
        src = _dataset_source(source)
        if features is not None:
            ds = mlflow.data.from_numpy(
                _to_numpy(features),
                source=src,
                targets=_to_numpy(targets) if targets is not None else None,
                name=dataset_name,
                digest=digest,
            )
        else:
            from mlflow.data.meta_dataset import MetaDataset

            ds = MetaDataset(source=src, name=dataset_name, digest=digest)
        tags = [InputTag(key=MLFLOW_DATASET_CONTEXT, value=context)]
        tags += [InputTag(key=clean_key(str(k)), value=truncate(to_text(v), 5000)) for k, v in (profile or {}).items()]
        entity = ds._to_mlflow_entity()
        # A data set is a row shared by the experiment's runs: MLflow looks it up, then inserts it, so two
        # processes logging the same data set at once would both insert. The store lock serialises them.
        with store_lock(self.tracking_uri):
            self.client.log_inputs(self.run_id, datasets=[DatasetInput(dataset=entity, tags=tags)])

    # -- model -------------------------------------------------------------------------------
    def log_model(
        self,
        constants: Mapping[str, Any],
        description: Mapping[str, Any],
        input_example: Any = None,
        *,
        name: str = MODEL_NAME,
        registered_model_name: str | None = None,
    ) -> str:
        """Log the trained model as a NumPy-only pyfunc (:mod:`mathflow.export.runtime`); returns
        ``runs:/<id>/<name>``.

        ``description`` is ``model.json`` (the exported program and its output mode, see
        :func:`mathflow.export.model.describe`), ``constants`` the program's arrays. The program is
        run once on ``input_example`` first, so a description that does not fit its arrays fails
        here, not at serving time.
        """
        import inspect

        import mlflow
        import mlflow.pyfunc
        import numpy as np

        from mathflow.export import runtime

        self._check_open("log_model")
        arrays = {str(k): np.asarray(_to_numpy(v)) for k, v in constants.items()}
        example = None
        if input_example is not None:
            dtype = np.dtype(description.get("dtype", "float32"))
            example = np.asarray(_to_numpy(input_example))
            if example.ndim >= 1 and len(example) > INPUT_EXAMPLE_ROWS:
                example = example[:INPUT_EXAMPLE_ROWS]
            if np.issubdtype(example.dtype, np.floating):
                example = example.astype(dtype)
            try:
                runtime.predict_array(description, arrays, example)
            except (ValueError, KeyError, TypeError) as exc:
                raise MathflowError(
                    f"log_model: the model description does not run on the input example: {exc}"
                ) from exc

        active = mlflow.active_run()
        if active is None or active.info.run_id != self.run_id:
            raise MathflowError(f"log_model: run {self.run_id} is not MLflow's active run (another run was started)")
        requirements = [f"numpy=={np.__version__}", f"mlflow=={mlflow.__version__}"]
        example, signature = pyfunc_input(description, example)  # raw rows for a CSV model; the params
        log_params = inspect.signature(mlflow.pyfunc.log_model).parameters
        where = {"name": name} if "name" in log_params else {"artifact_path": name}
        with tempfile.TemporaryDirectory(prefix="mathflow-model-") as tmp:
            files = runtime.write_artifacts(tmp, arrays, description)
            with warnings.catch_warnings(), quiet_loggers("mlflow.pyfunc", "mlflow.models"), _pinned_to_running():
                warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\..*")
                warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow\..*")
                self.model_info = mlflow.pyfunc.log_model(
                    python_model=runtime.__file__,
                    artifacts=files,
                    input_example=example,
                    signature=signature,
                    pip_requirements=requirements,
                    registered_model_name=registered_model_name,
                    **where,
                )
        self.model_uri = f"runs:/{self.run_id}/{name}"
        self.set_tags({"mathflow.model_uri": self.model_uri})
        return self.model_uri


@contextmanager
def _pinned_to_running() -> Iterator[None]:
    """MLflow's check that the installed packages satisfy a model's requirements (when it saves the
    model and when it loads it to try the input example), made cheap for the block: a requirement the
    installed distribution of that name satisfies passes at once; any other goes to MLflow's own
    check, which first maps every installed distribution to its modules (seconds, more than the rest
    of logging the model). The requirements :meth:`TrackedRun.log_model` passes pin the running
    ``numpy`` and ``mlflow``."""
    from importlib.metadata import PackageNotFoundError, version

    import mlflow.utils.requirements_utils as requirements_utils
    from packaging.requirements import InvalidRequirement, Requirement

    name = "_check_requirement_satisfied"
    original = getattr(requirements_utils, name, None)
    if original is None:  # another MLflow version: leave it as it is
        yield
        return

    def check(requirement: str) -> Any:
        try:
            parsed = Requirement(requirement)
            installed = version(parsed.name)
        except (InvalidRequirement, PackageNotFoundError):
            return original(requirement)
        if parsed.extras or parsed.marker or not parsed.specifier.contains(installed, prereleases=True):
            return original(requirement)
        return None

    setattr(requirements_utils, name, check)
    try:
        yield
    finally:
        setattr(requirements_utils, name, original)


def load_model(model_uri: str, tracking_uri: str | None = None) -> Any:
    """``mlflow.pyfunc.load_model(model_uri)`` against the store behind ``tracking_uri`` (default as in
    :func:`~mathflow.tracking.store.resolve_tracking_uri`), e.g. ``load_model("runs:/<id>/model")``."""
    import mlflow.pyfunc

    with using_tracking_uri(resolve_tracking_uri(tracking_uri)):
        return mlflow.pyfunc.load_model(model_uri)


def _dataset_source(source: str | None) -> Any:
    """An MLflow dataset source for ``source``: MLflow's own for paths and URLs, else a code source
    carrying the text (``sklearn:digits``, ``synthetic:moons``, ...)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource

    if source:
        text = str(source)
        if "://" in text or os.path.isabs(text) or os.path.exists(text):
            try:
                from mlflow.data.dataset_source_registry import resolve_dataset_source

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return resolve_dataset_source(os.path.abspath(text) if os.path.exists(text) else text)
            except Exception:  # noqa: BLE001 - fall back to a plain description
                pass
        return CodeDatasetSource(tags={"mathflow.source": text})
    return CodeDatasetSource(tags={"mathflow.source": "unknown"})


def use_agg() -> None:
    """Select matplotlib's non-interactive Agg backend unless pyplot is already in use."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def new_figure(**kwargs: Any) -> Any:
    """A matplotlib ``Figure`` drawn off-screen (no pyplot, no GUI backend): ``fig.add_subplot()`` to plot."""
    use_agg()
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def pyfunc_input(description: Mapping[str, Any], example: Any) -> tuple[Any, Any]:
    """``(input_example, signature)`` to log the model with: the params of
    :data:`mathflow.export.runtime.PARAMS` (``proba``, ``allow_nonfinite``) and, for array inputs,
    the tensor schema of ``example``. A model with raw ``columns`` gets its example as raw rows (a
    DataFrame) and no input schema: it checks and encodes its input itself, with its own messages."""
    from mlflow.models import ModelSignature, infer_signature

    from mathflow.export.runtime import PARAMS, decode_columns

    params = infer_signature(params=dict(PARAMS)).params
    if example is None:
        return None, ModelSignature(inputs=None, params=params)
    if description.get("columns"):
        import pandas

        return pandas.DataFrame(decode_columns(description, example)), ModelSignature(inputs=None, params=params)
    return example, ModelSignature(inputs=infer_signature(example).inputs, params=params)
