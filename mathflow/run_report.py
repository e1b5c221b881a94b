"""What a run prints: the block at its start, the block at its end, the per-node table.

Text only: each function formats what it is given (a compiled pipeline, a run's context or result).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TextIO

#: Final metrics that are not per split (left out of the end block's split lines).
END_METRICS = ("train_seconds", "best_epoch", "stopped_epoch")


def node_table(compiled: Any) -> str:
    """The per-node table (name, type, inputs, output shape, parameters, YAML line) as text."""
    rows = compiled.graph.rows()
    header = ("name", "type", "inputs", "output shape", "params", "line")
    lines = [
        (
            str(r["name"]),
            str(r["type"]),
            ", ".join(r.get("inputs", [])),
            str(r["output_shape"]),
            f"{r['params']:,}",
            "" if r.get("line") is None else str(r["line"]),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in lines]
    out.append(f"total parameters: {compiled.graph.total_params:,}")
    return "\n".join(out) + "\n"


def _columns(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    """Rows of cells as left-aligned columns (the last column, numbers, aligned right)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths)] + [row[-1].rjust(widths[-1])]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def model_lines(compiled: Any) -> list[str]:
    """The compiled model as a compact table: layer, type, (inputs,) output shape, parameters."""
    graph = compiled.graph
    wired = not graph.sequential
    rows = [("layer", "type", *(("inputs",) if wired else ()), "output shape", "params")]
    for row in graph.rows():
        inputs = (", ".join(row.get("inputs", [])),) if wired else ()
        rows.append((str(row["name"]), str(row["type"]), *inputs, str(row["output_shape"]), f"{row['params']:,}"))
    return [*_columns(rows), f"  total parameters: {graph.total_params:,}"]


def run_header(ctx: Any, data: Any, path: str | os.PathLike[str]) -> str:
    """The block printed when a run starts: pipeline, data and splits, model table, store, run and
    the run's page in the MLflow UI (``ctx``: the run's spec, compiled pipeline, tracker, MLflow run,
    experiment and backend)."""
    from mathflow.tracking.ui import run_page

    splits = {name: len(split) for name, split in data.splits.items()}
    sizes = " · ".join(f"{name} {count:,}" for name, count in splits.items())
    lines = [
        f"pipeline  {ctx.spec.name} ({os.fspath(path)})",
        f"data      {ctx.compiled.data.describe()}: {sum(splits.values()):,} samples ({sizes})",
        "model",
        *model_lines(ctx.compiled),
        f"store     {ctx.tracker.tracking_uri}",
        f"run       {ctx.run.run_id} in experiment {ctx.experiment!r} on {ctx.backend.device_name}",
        f"ui        {run_page(ctx.tracker.tracking_uri, ctx.run.experiment_id, ctx.run.run_id)}",
    ]
    return "\n".join(lines) + "\n"


def print_header(console: TextIO | None, ctx: Any, data: Any, path: str | os.PathLike[str]) -> None:
    """Write :func:`run_header` to ``console`` (nothing without one)."""
    if console is not None:
        console.write(run_header(ctx, data, path))
        console.flush()


def _metric_groups(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Final metrics by split (train, val, test) without the prefix; any other metric under "other"."""
    groups: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if key in END_METRICS:
            continue
        split, _, name = key.partition("_")
        if split not in ("train", "val", "test") or not name:
            split, name = "other", key
        groups.setdefault(split, {})[name] = value
    return groups


def _stop_line(history: Any) -> str | None:
    """When and why training stopped before its last epoch (and which weights were restored)."""
    epoch = getattr(history, "stopped_epoch", None)
    if epoch is None:
        return None
    reason = str(getattr(history, "stop_reason", None) or "stopped by a callback")
    what, _, why = reason.partition(": ") if reason.startswith("early stopping: ") else ("stopped", "", reason)
    line = f"  {what} at epoch {epoch}: {why}"
    restored = getattr(history, "restored_epoch", None)
    return line + (f"; the weights of epoch {restored} were restored" if restored is not None else "")


def run_summary(result: Any) -> str:
    """The block printed when a run ends (``result``: a :class:`~mathflow.run.RunResult`): run id,
    epochs and time, early stopping, the final metrics."""
    lines = [
        f"run {result.run_id} in experiment {result.experiment!r}: {result.epochs} epochs, "
        f"{result.steps} steps, {result.train_seconds:.2f} s training"
    ]
    stop = _stop_line(result.history)
    if stop:
        lines.append(stop)
    for split, values in _metric_groups(result.metrics).items():
        lines.append(f"  {split:<6}" + " · ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return "\n".join(lines) + "\n"
