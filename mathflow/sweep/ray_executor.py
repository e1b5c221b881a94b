"""The Ray executor: each trial a Ray task on an existing cluster (``pip install -e '.[ray]'``).

A task carries the trial's whole resolved pipeline as text (a worker node need not share the
driver's files; built-in data sets and absolute data paths load on the worker) and asks for
``resources`` (``{"num_cpus": 1, "num_gpus": 0}`` by default). Outcomes stream back as tasks finish.
Pruning reports go through a small actor, the *board*: the task posts its epoch's metric there and
waits for the sweep's answer. A task whose worker dies comes back as ``lost`` (the sweep retries it
once). Trial runs are written by the workers straight to the tracking server, so a cluster beyond
this machine needs a tracking URI it can reach (``mlflow server``), never a local SQLite file.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

from mathflow.errors import MathflowError
from mathflow.sweep.trial import TrialJob, TrialOutcome, run_trial

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "")
#: Seconds a cluster's address has to accept a connection before the sweep gives up on it (Ray
#: itself retries an address that does not answer for ever, deaf to Ctrl-C).
CONNECT_TIMEOUT_S = 5.0


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MathflowError(
            "--executor ray needs Ray, which is not installed", suggestion="pip install -e '.[ray]'"
        ) from None
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """The (host, port) that ``address`` (``host:port`` or ``ray://host:port``) names; None for
    ``auto`` and forms without a port (Ray resolves those itself)."""
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    try:
        port = parsed.port
    except ValueError:
        return None
    return (parsed.hostname or "127.0.0.1", port) if port is not None else None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise a MathflowError naming ``address`` unless it accepts a TCP connection within ``timeout``."""
    import socket

    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            return
    except OSError as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise MathflowError(
            f"no Ray cluster answers at {address} ({reason.lower()})",
            suggestion="start one with: ray start --head, or give its address to --address",
        ) from None


def is_local_address(address: str | None) -> bool:
    """Whether ``address`` names a Ray cluster on this machine (or none: a local one is started)."""
    if address in (None, "local"):
        return True
    if address.startswith("ray://"):
        return urlparse(address).hostname in LOCAL_HOSTS
    host = address.rsplit(":", 1)[0] if address != "auto" else "127.0.0.1"
    return host in LOCAL_HOSTS


def check_tracking_for_cluster(tracking_uri: str, address: str | None) -> None:
    """Refuse a tracking store that a remote cluster's workers cannot write to."""
    scheme = urlparse(tracking_uri).scheme
    if scheme in ("http", "https", "databricks") or is_local_address(address):
        return
    raise MathflowError(
        f"the tracking store {tracking_uri} is a local file, which workers on the Ray cluster at {address} "
        "cannot write to",
        suggestion="start a tracking server (mlflow server --host 0.0.0.0 --port 5000 "
        "--backend-store-uri sqlite:///runs/mlflow.db --artifacts-destination runs/artifacts) and pass "
        "--tracking-uri http://<this host>:5000 (README, 'Sweeps on a Ray cluster')",
    )


class _Board:
    """The actor between trials and the sweep: pruning reports in, answers out."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, int, float]] = []
        self.answers: dict[tuple[str, int], bool] = {}

    def post(self, key: str, epoch: int, value: float) -> None:
        self.posts.append((key, epoch, value))

    def take(self) -> list[tuple[str, int, float]]:
        posts, self.posts = self.posts, []
        return posts

    def answer(self, key: str, epoch: int, prune: bool) -> None:
        self.answers[(key, epoch)] = prune

    def get(self, key: str, epoch: int) -> bool | None:
        return self.answers.pop((key, epoch), None)


def _ray_trial(job: TrialJob, board: Any) -> TrialOutcome:
    """The task body: run the trial on the worker, asking ``board`` whether to prune."""
    import ray

    def ask(epoch: int, value: float) -> bool:
        ray.get(board.post.remote(job.key, epoch, value))
        while True:
            answer = ray.get(board.get.remote(job.key, epoch))
            if answer is not None:
                return bool(answer)
            time.sleep(0.05)

    return run_trial(job, ask)


class RayExecutor:
    """Runs trials as Ray tasks, at most ``size`` at a time."""

    name = "ray"
    ship_text = True

    def __init__(self, size: int, address: str | None, resources: dict[str, float], tracking_uri: str | None):
        from mathflow.tracking.store import resolve_tracking_uri

        self.ray = _import_ray()
        self.size = max(1, int(size))
        self.address = address
        self.resources = {"num_cpus": 1, **resources}
        check_tracking_for_cluster(resolve_tracking_uri(tracking_uri), address)
        self.running: dict[Any, TrialJob] = {}
        self.by_key: dict[str, TrialJob] = {}
        self.board: Any = None
        self._task: Any = None
        self._started_ray = False

    def start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
            if self.address not in (None, "local"):
                check_reachable(self.address)
                kwargs = {"address": self.address, "log_to_driver": False}
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001 - Ray raises several kinds for an unreachable cluster
                raise MathflowError(f"could not connect to the Ray cluster at {self.address}: {exc}") from None
            self._started_ray = True
        self.board = ray.remote(num_cpus=0)(_Board).remote()
        self._task = ray.remote(max_retries=0, **self.resources)(_ray_trial)

    def close(self) -> None:
        if self._started_ray:
            self._started_ray = False
            self.ray.shutdown()

    @property
    def free_slots(self) -> int:
        return self.size - len(self.running)

    @property
    def busy(self) -> bool:
        return bool(self.running)

    def submit(self, job: TrialJob) -> None:
        ref = self._task.remote(job, self.board)
        self.running[ref] = job
        self.by_key[job.key] = job

    def poll(self, timeout: float) -> list[tuple[Any, ...]]:
        ray = self.ray
        events: list[tuple[Any, ...]] = []
        for key, epoch, value in ray.get(self.board.take.remote()):
            if key in self.by_key:
                events.append(("report", self.by_key[key], epoch, value, (key, epoch)))
        if not self.running:
            return events
        ready, _ = ray.wait(list(self.running), num_returns=len(self.running), timeout=0 if events else timeout)
        for ref in ready:
            job = self.running.pop(ref)
            self.by_key.pop(job.key, None)
            try:
                events.append(("done", job, ray.get(ref)))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
                events.append(("lost", job, f"the Ray worker died ({type(exc).__name__})"))
            except ray.exceptions.TaskCancelledError:
                events.append(("done", job, TrialOutcome(job.key, "KILLED", error="cancelled by the sweep")))
            except ray.exceptions.RayError as exc:
                events.append(("done", job, TrialOutcome(job.key, "FAILED", error=str(exc).splitlines()[0][:500])))
        return events

    def reply(self, event: tuple[Any, ...], prune: bool) -> None:
        key, epoch = event[4]
        self.board.answer.remote(key, epoch, bool(prune))

    def interrupt(self, signum: int) -> None:
        """Cancel the running tasks (a KeyboardInterrupt in each: its run ends KILLED)."""
        for ref in list(self.running):
            self.ray.cancel(ref, force=False)
