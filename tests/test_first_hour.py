"""docs/first-hour.md is executed: its ```console blocks run, in order, as one shell script in a
temporary folder (one subprocess), and every command must exit 0 and print the output shown
under it (each shown line, with ``…`` matching anything, must match a line of the output)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "docs" / "first-hour.md"
BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


@dataclass
class Step:
    command: str
    shown: list[str] = field(default_factory=list)

    def patterns(self) -> list[re.Pattern[str]]:
        """Each shown line as a pattern: literal text, ``…`` for anything."""
        return [re.compile(".*".join(re.escape(part) for part in line.split("…"))) for line in self.shown]


def steps(text: str) -> list[Step]:
    """The ``$ command`` lines of the console blocks, each with the output lines shown under it."""
    found: list[Step] = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append(Step(line[2:]))
            elif line.strip():
                assert found, f"output before any command: {line!r}"
                found[-1].shown.append(line.rstrip())
    return found


def script(all_steps: list[Step], logs: Path) -> str:
    """A bash script running every step in one shell, each step's output and status in ``logs``."""
    lines = ["set -u"]
    for i, step in enumerate(all_steps):
        lines.append(f"{{ {step.command}\n}} > {logs}/{i}.out 2>&1")  # a group: variables persist
        lines.append(f"echo $? > {logs}/{i}.rc")
    return "\n".join(lines) + "\n"


def test_steps_are_parsed():
    parsed = steps("```console\n$ a --b\nout 1\n\nout 2\n$ c\n```\ntext\n```bash\n$ not run\n```\n")
    assert [(s.command, s.shown) for s in parsed] == [("a --b", ["out 1", "out 2"]), ("c", [])]
    assert steps("```console\n$ x\nrun … in 'iris'\n```\n")[0].patterns()[0].search("run 3f9c in 'iris'")


def test_walkthrough_covers_the_first_hour():
    commands = [s.command for s in steps(WALKTHROUGH.read_text(encoding="utf-8"))]
    for verb in ("validate", "run", "runs", "predict", "rerun"):
        assert any(c.startswith(f"mathflow {verb} ") or c == f"mathflow {verb}" for c in commands), verb
    assert commands[0] == "WORK=$(mktemp -d)" and commands[1].startswith('export MLFLOW_TRACKING_URI="sqlite:///$WORK/')
    assert all("$WORK/" in c for c in commands if ">" in c), "every file a step writes goes to the throw-away folder"


@pytest.mark.slow
def test_walkthrough_runs_as_written(tmp_path: Path):
    all_steps = steps(WALKTHROUGH.read_text(encoding="utf-8"))
    work, logs = tmp_path / "work", tmp_path / "logs"
    (work / "pipelines").mkdir(parents=True)
    logs.mkdir()
    shutil.copy(ROOT / "pipelines" / "iris.yaml", work / "pipelines" / "iris.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        TMPDIR=str(tmp_path),  # mktemp -d makes the store in here
        COLUMNS="200",
    )
    subprocess.run(["bash", "-c", script(all_steps, logs)], cwd=work, env=env, check=True, timeout=900)

    for i, step in enumerate(all_steps):
        out = (logs / f"{i}.out").read_text(encoding="utf-8")
        status = int((logs / f"{i}.rc").read_text())
        assert status == 0, f"$ {step.command}\nexit status {status}\n{out}"
        lines = out.splitlines()
        for shown, pattern in zip(step.shown, step.patterns()):
            assert any(pattern.search(line) for line in lines), f"$ {step.command}\nno line like {shown!r} in\n{out}"
    left = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert left == ["pipelines", "pipelines/iris.yaml"], f"the walk-through left files in the repository: {left}"
    (made,) = tmp_path.glob("tmp.*")
    written = {"broken.yaml", "flowers.npy", "mlflow.db", "run.json"}
    assert written <= {p.name for p in made.iterdir()}, "the steps' files and the store are in the throw-away folder"
