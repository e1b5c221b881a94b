"""The fixed cost of ``mathflow run``: wall time of the whole process minus its training time.

    python benchmarks/overhead.py                         # pipelines/iris.yaml, 5 rounds, table
    python benchmarks/overhead.py --rounds 9 --json       # last stdout line: one JSON object
    python benchmarks/overhead.py --pipeline pipelines/cnn.yaml --set train.epochs=1
    python benchmarks/overhead.py --checkout /tmp/main-at-v1     # the mathflow package of another checkout

Each round runs the real command, ``mathflow run PIPELINE --json -q``, in a fresh temporary folder
with a fresh tracking store (``--tracking-uri <tmp>/store``), and times the process from start to
exit. Its ``train_seconds`` (the training loop without the time spent logging) comes from the run's
JSON line; the fixed cost is ``wall - train_seconds``: interpreter start, imports, loading and
compiling the pipeline, reading the data, opening the store and everything logged to it.

Every round times the command twice: through the daemon (``daemon``: what every run after the first
costs; a daemon folder of the benchmark's own, its daemon started before the rounds and stopped
after) and in a process of its own (``alone``: ``MATHFLOW_DAEMON=off``, what the first run costs).
The first run (not counted, reported as ``first``) finds no daemon, runs alone and starts one; it also
fills the per-user caches a run relies on (the empty-store template and the built-in data sets);
``--cold`` gives every run an empty cache folder instead. ``--checkout`` times only ``alone``.

Beside them, in alternating order so that machine noise hits all alike, each round times
``python -c "import mlflow"``, the yardstick that makes figures from a busy or slower machine
comparable (``fixed_per_import``), and ``python -c "import mlflow.store.tracking.sqlalchemy_store"``,
MLflow with the SQL store that a run on a SQLite file or a database writes to
(``fixed_per_store_import``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE_ENV = "MATHFLOW_CACHE_DIR"
DAEMON_DIR_ENV = "MATHFLOW_DAEMON_DIR"
MODES = ("daemon", "alone")


_CLI = [sys.executable, "-c", "import sys; from mathflow.cli import main; sys.exit(main())"]


def mathflow_command(checkout: str | None = None) -> list[str]:
    """The installed ``mathflow`` console script of this interpreter (else the CLI run by ``python -c``);
    with ``checkout``, the CLI of the ``mathflow`` package in that folder (put first on ``PYTHONPATH``)."""
    if checkout is not None:
        return _CLI
    script = Path(sys.executable).with_name("mathflow")
    if script.is_file():
        return [str(script)]
    found = shutil.which("mathflow")
    if found:
        return [found]
    return _CLI


#: The yardsticks timed beside each run: MLflow alone, and MLflow with the SQL store a run writes to.
YARDSTICKS = {"import_mlflow_s": "mlflow", "import_store_s": "mlflow.store.tracking.sqlalchemy_store"}


def time_import(module: str) -> float:
    """Seconds of a fresh ``python -c "import MODULE"`` process."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, capture_output=True)
    return time.perf_counter() - started


def command_env(daemon_dir: str, mode: str) -> dict[str, str]:
    """This environment for a timed command: the benchmark's daemon folder; ``alone`` switches it off."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env[DAEMON_DIR_ENV] = daemon_dir
    env.pop("MATHFLOW_DAEMON", None)
    if mode == "alone":
        env["MATHFLOW_DAEMON"] = "off"
    return env


def time_run(
    pipeline: Path,
    overrides: list[str],
    env: dict[str, str],
    cache: str | None = None,
    checkout: str | None = None,
) -> dict[str, Any]:
    """One ``mathflow run`` process in a fresh folder and store: wall, training and fixed seconds."""
    with tempfile.TemporaryDirectory(prefix="mathflow-overhead-") as tmp:
        env = dict(env)
        if cache is not None:
            env[CACHE_ENV] = cache
        if checkout is not None:
            env["PYTHONPATH"] = os.pathsep.join([checkout, *filter(None, [env.get("PYTHONPATH")])])
        argv = [
            *mathflow_command(checkout),
            "run",
            str(pipeline),
            "--tracking-uri",
            str(Path(tmp) / "store"),
            "--json",
            "-q",
        ]
        for item in overrides:
            argv += ["--set", item]
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mathflow run failed (exit {done.returncode}):\n{done.stderr}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    train = float(summary["train_seconds"])
    return {
        "wall_s": round(wall, 3),
        "train_s": round(train, 3),
        "fixed_s": round(wall - train, 3),
        "status": summary["status"],
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def measure(
    pipeline: Path,
    overrides: list[str],
    rounds: int,
    cold: bool = False,
    warmup: bool = True,
    checkout: str | None = None,
) -> dict[str, Any]:
    """``rounds`` alternating rounds of (``mathflow run`` in each of :data:`MODES`, the
    :data:`YARDSTICKS`) after one uncounted first run."""
    modes = ("alone",) if checkout is not None else MODES
    folders = [tempfile.mkdtemp(prefix="mfd-bench-")]
    daemon_dir = folders[0]

    def cache() -> str | None:
        if not cold:
            return None
        folders.append(tempfile.mkdtemp(prefix="mathflow-overhead-cache-"))
        return folders[-1]

    def daemon(action: str) -> None:
        command = [*mathflow_command(), "daemon", action]
        subprocess.run(command, env=command_env(daemon_dir, "daemon"), check=True, capture_output=True)

    try:
        first = time_run(pipeline, overrides, command_env(daemon_dir, modes[0]), cache(), checkout) if warmup else None
        if "daemon" in modes:
            daemon("start")
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        imports: dict[str, list[float]] = {key: [] for key in YARDSTICKS}
        for index in range(rounds):
            order = [*modes, "yardsticks"]
            for step in order[index % len(order):] + order[: index % len(order)]:
                if step == "yardsticks":
                    for key, module in YARDSTICKS.items():
                        imports[key].append(time_import(module))
                else:
                    runs[step].append(time_run(pipeline, overrides, command_env(daemon_dir, step), cache(), checkout))
        if "daemon" in modes:
            daemon("stop")
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    yardsticks = {key: _stats(values) for key, values in imports.items()}

    def summary(timed: list[dict[str, Any]]) -> dict[str, Any]:
        fixed = _stats([r["fixed_s"] for r in timed])
        return {
            "wall_s": _stats([r["wall_s"] for r in timed]),
            "train_s": _stats([r["train_s"] for r in timed]),
            "fixed_s": fixed,
            "fixed_per_import": round(fixed["median"] / yardsticks["import_mlflow_s"]["median"], 3),
            "fixed_per_store_import": round(fixed["median"] / yardsticks["import_store_s"]["median"], 3),
            "runs": timed,
        }

    return {
        "pipeline": os.path.relpath(pipeline, ROOT) if pipeline.is_relative_to(ROOT) else str(pipeline),
        "overrides": overrides,
        "rounds": rounds,
        "cold": cold,
        "checkout": checkout,
        **yardsticks,
        **{mode: summary(timed) for mode, timed in runs.items()},
        "first": first,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


MODE_LABELS = {
    "daemon": "through the daemon (every run after the first)",
    "alone": "in a process of its own (MATHFLOW_DAEMON=off; the first run)",
}


def _print_row(label: str, s: dict[str, float]) -> None:
    print(f"  {label:<27} median {s['median']:6.2f} s   min {s['min']:6.2f} s   max {s['max']:6.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", default=str(ROOT / "pipelines" / "iris.yaml"), help="pipeline file to run")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override passed to the run")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (each: a run and the two yardsticks)")
    parser.add_argument("--cold", action="store_true", help="an empty per-user cache folder for every run")
    parser.add_argument("--no-warmup", action="store_true", help="skip the uncounted first run")
    parser.add_argument("--checkout", help="time the mathflow package in this folder instead (another checkout)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    checkout = str(Path(args.checkout).resolve()) if args.checkout else None
    result = measure(
        Path(args.pipeline).resolve(), args.overrides, args.rounds, args.cold, not args.no_warmup, checkout
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"mathflow run {result['pipeline']} ({args.rounds} rounds{', cold cache' if args.cold else ''})")
    for key, label in (("import_mlflow_s", "import mlflow"), ("import_store_s", "import mlflow + SQL store")):
        _print_row(label, result[key])
    for mode in MODES:
        if mode not in result:
            continue
        timed = result[mode]
        print(f"{mode}: {MODE_LABELS[mode]}")
        for key, label in (("wall_s", "wall"), ("train_s", "training"), ("fixed_s", "fixed cost")):
            _print_row(label, timed[key])
        print(f"  fixed cost / import mlflow  {timed['fixed_per_import']:.2f}")
        print(f"  fixed cost / import store   {timed['fixed_per_store_import']:.2f}")
    if result["first"] is not None:
        first = result["first"]
        print(f"first run (not counted)       wall {first['wall_s']:.2f} s, fixed cost {first['fixed_s']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
