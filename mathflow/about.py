"""``mathflow info``: the versions of mathflow and NumPy, and the compute devices mathflow can use."""

from __future__ import annotations


def info_lines() -> list[str]:
    """One line each: mathflow's version, NumPy's, and CuPy's with its GPU (or that there is none)."""
    import numpy as np

    from mathflow import __version__
    from mathflow.backend import Backend, gpu_available

    lines = [f"mathflow {__version__}", f"numpy    {np.__version__}"]
    if gpu_available():
        import cupy

        lines.append(f"cupy     {cupy.__version__} on {Backend('gpu').device_name}")
    else:
        lines.append("cupy     not available (CPU only)")
    return lines
