"""What the tests that run the real ``mathflow`` command share: its environment and the console script."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def cli_env() -> dict[str, str]:
    """This process's environment for a ``mathflow`` subprocess: unbuffered output, and neither a
    tracking URI (the command's own default store or ``--tracking-uri`` decides) nor debug mode."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MATHFLOW_DEBUG", None)
    return env


def mathflow_script() -> str | None:
    """The installed console script: next to this interpreter first, then on PATH."""
    beside = Path(sys.executable).with_name("mathflow")
    return str(beside) if beside.is_file() else shutil.which("mathflow")
