"""The figures of the example pipelines: every ML pipeline in ``pipelines/`` trained in full on CPU,
seed by seed, and its test figure for each seed.

    python benchmarks/examples.py                    # 4 seeds each, a table
    python benchmarks/examples.py --seeds 1 --json   # last stdout line: one JSON object
    python benchmarks/examples.py --readme           # rewrite the table of README.md between its markers

A pipeline's test figure is its test accuracy (a classifier) or test R² (a regression), and the
fraction of weights at zero where it logs ``weight_sparsity`` (an L1 penalty). The seeds of a
pipeline are its own ``seed`` and the next ones (as ``mathflow run --seeds N`` takes them), each run
in-process into a temporary store. The README's table shows the pipeline as written (its own seed)
and the range over the seeds; ``tests/test_readme_figures.py`` runs every pipeline as written again
and checks the table against it (runs on CPU are deterministic).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN = "<!-- example figures: python benchmarks/examples.py --readme -->"
END = "<!-- end of example figures -->"
#: The figures a run can have, in the order they are shown: (name in the table, metric logged).
FIGURES = (("accuracy", "test_accuracy"), ("R²", "test_r2"), ("sparsity", "weight_sparsity"))


def example_pipelines() -> list[Path]:
    """The ML pipelines of ``pipelines/`` (math pipelines and sweep files left out), by name."""
    from mathflow.config.kind import is_math_pipeline

    return [p for p in sorted((ROOT / "pipelines").glob("*.yaml")) if not is_math_pipeline(p)]


def figures_of(metrics: dict[str, float]) -> dict[str, float]:
    """The test figures among a run's final ``metrics`` (see :data:`FIGURES`)."""
    return {name: float(metrics[key]) for name, key in FIGURES if key in metrics}


def shown(figures: dict[str, float]) -> str:
    """``accuracy 0.993``: the figures as the table shows them (three decimals)."""
    return ", ".join(f"{name} {value:.3f}" for name, value in figures.items())


def run_example(pipeline: Path, tracking_uri: str, seed: int | None = None) -> dict[str, float]:
    """Train ``pipeline`` in full (as written, or with ``seed``; no output) and return its test figures."""
    from mathflow.run import run_pipeline

    overrides = [] if seed is None else [f"seed={seed}"]
    return figures_of(run_pipeline(pipeline, overrides, tracking_uri=tracking_uri, quiet=True).metrics)


def measure(seeds: int) -> list[dict[str, Any]]:
    """For every example pipeline: its file, description, own seed and figures for that seed and the
    ``seeds - 1`` after it."""
    from mathflow.pipeline import load_spec

    rows = []
    with tempfile.TemporaryDirectory(prefix="mathflow-examples-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        for pipeline in example_pipelines():
            spec = load_spec(pipeline)
            per_seed = [run_example(pipeline, uri, spec.seed + offset) for offset in range(seeds)]
            what = " ".join(str(spec.description or "").split()).replace("|", "\\|")  # a table cell
            rows.append({"pipeline": pipeline.name, "what": what, "seed": spec.seed, "seeds": per_seed})
            print(f"{pipeline.name}: " + " | ".join(shown(f) for f in per_seed), file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table: pipeline, what it is, the figures as written (its own seed) and their range
    over that seed and the next ones."""
    count = len(rows[0]["seeds"]) if rows else 0
    lines = [
        f"| pipeline | what | test figure (its seed) | range over {count} seeds |",
        "|---|---|---|---|",
    ]
    for row in rows:
        first, runs, seed = row["seeds"][0], row["seeds"], row["seed"]
        spread = ", ".join(
            f"{name} {min(r[name] for r in runs):.3f}–{max(r[name] for r in runs):.3f}" for name in first
        )
        seeds = f"seeds {seed}–{seed + count - 1}" if count > 1 else f"seed {seed}"
        lines.append(f"| `{row['pipeline']}` | {row['what']} | {shown(first)} ({seed}) | {spread} ({seeds}) |")
    return "\n".join(lines) + "\n"


def readme_table(text: str) -> str:
    """The table between the README's markers (raises if they are missing)."""
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    if match is None:
        raise SystemExit(f"README.md has no '{BEGIN}' ... '{END}' section")
    return match.group(1)


def write_readme(rows: list[dict[str, Any]]) -> None:
    """Replace the table between the README's markers."""
    text = README.read_text(encoding="utf-8")
    old = readme_table(text)
    README.write_text(text.replace(BEGIN + "\n" + old, BEGIN + "\n" + table(rows)), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds 0 .. N-1 for every pipeline (default 4)")
    parser.add_argument("--readme", action="store_true", help="rewrite the table in README.md")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    rows = measure(args.seeds)
    if args.readme:
        write_readme(rows)
    print(json.dumps(rows) if args.json else table(rows), end="\n" if args.json else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
