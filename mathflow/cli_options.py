"""The options and arguments of the ``mathflow`` commands: names, help texts, defaults and limits.

The commands themselves are in :mod:`mathflow.cli`; an option that several commands share is
declared once here (``--debug``, ``--set``, ``--tracking-uri`` ...). Typer only, nothing else.
"""

from __future__ import annotations

import typer

# --------------------------------------------------------------------------- shared
DEBUG = typer.Option(False, "--debug", help="Show the Python traceback of an error.")
SET = typer.Option([], "--set", help="Override a value: --set train.epochs=3 (repeatable).")
FILE = typer.Argument(..., help="Pipeline YAML file.")
RUN_ID = typer.Argument(..., help="The id of a logged run.")
DEVICE = typer.Option(None, "--device", help="cpu, gpu or auto (overrides train.device).")
URI = typer.Option(None, "--tracking-uri", help="MLflow store (default: sqlite:///<cwd>/runs/mlflow.db).")
EXPERIMENT = typer.Option(None, "--experiment", help="MLflow experiment (default: tracking.experiment).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress output (the start and end blocks stay).")

# --------------------------------------------------------------------------- pipeline commands
FILES = typer.Argument(..., help="Pipeline YAML files (ML or math), checked one after another.")
SCHEMA_OUTPUT = typer.Option(None, "--output", "-o", help="Write the schema to this file instead of printing it.")
SCHEMA_KIND = typer.Option("pipeline", "--kind", help="pipeline (ML pipelines) or math (kind: optimize | analyze).")
DOCS_OUT = typer.Option(None, "--out", "-o", help="Write the reference to this file instead of printing it.")
GRAPH_FORMAT = typer.Option("mermaid", "--format", "-f", help="mermaid or dot.")
FAMILY = typer.Argument(
    None, help="layers, activations, losses, regularizers, optimizers, schedules, datasets or transforms."
)
GRAD_BATCH = typer.Option(16, "--batch", help="Training samples in the checked batch (seeded random).")
TOLERANCE = typer.Option(1e-6, "--tolerance", help="Relative tolerance of an entry.")
MAX_ENTRIES = typer.Option(64, "--max-entries", help="Larger parameters are checked on this many random entries.")

# --------------------------------------------------------------------------- run, rerun, resume
RUN_JSON = typer.Option(
    False, "--json", help="End with one JSON line describing the run (the start and end blocks go to stderr)."
)
RUN_SEEDS = typer.Option(
    None, "--seeds", min=1, max=100, help="Run N seeds (seed, seed+1, ...) as a sweep: mean ± std of every metric."
)
RERUN_QUIET = typer.Option(False, "--quiet", "-q", help="No progress output.")
RERUN_JSON = typer.Option(False, "--json", help="End with one JSON line describing the comparison.")
RESUME_RUN_ID = typer.Argument(..., help="The id of a KILLED or FAILED run.")
RESUME_JSON = typer.Option(False, "--json", help="End with one JSON line describing the new run.")

# --------------------------------------------------------------------------- sweep, compare, runs
SWEEP_FILE = typer.Argument(None, help="Pipeline YAML file (with or without a sweep: section).")
PARAM = typer.Option(
    [], "--param", help="Vary a value: PATH=LOW:HIGH[:log] or PATH=A,B,C (repeatable; adds to sweep.parameters)."
)
METHOD = typer.Option(None, "--method", help="grid, random or tpe (overrides sweep.method).")
METRIC = typer.Option(None, "--metric", help="The final metric that ranks trials, e.g. val_accuracy.")
GOAL = typer.Option(None, "--goal", help="maximize or minimize (default: from the metric's name).")
TRIALS = typer.Option(None, "--trials", min=1, help="Points tried by random and tpe.")
SWEEP_SEEDS = typer.Option(None, "--seeds", min=1, help="Runs per point, with seeds seed, seed+1, ...")
PARALLEL = typer.Option(None, "--parallel", "-j", min=1, max=256, help="Concurrent trials (default: CPUs).")
EXECUTOR = typer.Option("local", "--executor", help="local (worker processes) or ray.")
ADDRESS = typer.Option(None, "--address", help="Ray cluster address (with --executor ray).")
TRIAL_CPUS = typer.Option(1.0, "--trial-cpus", min=0, help="CPUs each Ray trial asks for.")
TRIAL_GPUS = typer.Option(0.0, "--trial-gpus", min=0, help="GPUs each Ray trial asks for.")
SWEEP_RESUME = typer.Option(None, "--resume", help="Take up the stopped sweep with this parent run id.")
SWEEP_JSON = typer.Option(False, "--json", help="End with one JSON line describing the sweep.")
RUN_A = typer.Argument(..., help="A run id.")
RUN_B = typer.Argument(..., help="Another run id.")
SHOW_ALL = typer.Option(False, "--all", help="Show every parameter and metric, not only differences.")
RUNS_EXPERIMENT = typer.Option(None, "--experiment", "-e", help="Only this experiment.")
LIMIT = typer.Option(20, "--limit", "-n", help="How many runs (newest first).")
DEAD_AFTER = typer.Option(
    120.0, "--dead-after", help="Seconds without a heartbeat after which a RUNNING run shows as DEAD?."
)
MARK_DEAD = typer.Option(False, "--mark-dead", help="End the DEAD? runs as FAILED (reason in the mathflow.error tag).")
SWEEP_ID = typer.Option(None, "--sweep", help="The trials of this sweep (parent run id), best first.")

# --------------------------------------------------------------------------- models and servers
INPUT = typer.Option(
    ..., "--input", "-i", help="Inputs: .npy/.npz (int or float), or .csv rows (the training CSV's columns)."
)
PREDICT_OUTPUT = typer.Option(None, "--output", "-o", help="Write the predictions here instead of stdout.")
PREDICT_FORMAT = typer.Option(None, "--format", "-f", help="csv, npy or json (default: by --output's suffix; csv).")
PROBA = typer.Option(False, "--proba", help="Class probabilities (one column per class) instead of labels.")
ALLOW_NONFINITE = typer.Option(
    False, "--allow-nonfinite", help="Let NaN/inf inputs reach the model instead of refusing them."
)
FINISHED_RUN_ID = typer.Argument(..., help="The id of a finished run.")
HESSIAN = typer.Option(..., "--hessian", help="top=K[,steps=M]: the K largest Hessian eigenvalues.")
HESSIAN_BATCH = typer.Option(1024, "--batch", help="Training samples the loss is taken on (all when fewer).")
SERVE_PORT = typer.Option(5000, "--port", "-p", help="Port to listen on.")
SERVE_HOST = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0: every interface).")
EXPORT_OUTPUT = typer.Option(..., "--output", "-o", help="Write the exported model here (e.g. model.onnx).")
EXPORT_FORMAT = typer.Option("onnx", "--format", "-f", help="Export format: onnx (needs the onnx extra).")
UI_PORT = typer.Option(None, "--port", "-p", help="Port on 127.0.0.1 (default 5000).")
UI_EXPERIMENT = typer.Option(None, "--experiment", "-e", help="Show this experiment's URL (default: the newest run's).")

# --------------------------------------------------------------------------- daemon
DAEMON_ACTION = typer.Argument("status", help="status, start or stop.")
DAEMON_JSON = typer.Option(False, "--json", help="Print the daemon's state as one JSON object (null: none).")
DAEMON_ALL = typer.Option(False, "--all", help="stop: every daemon of this installation (any environment).")
DAEMON_EVERYWHERE = typer.Option(
    False, "--everywhere", help="stop: every daemon in the daemon folder, of any installation or checkout."
)
