"""Training-step speed of mathflow beside PyTorch on the same workloads.

    python benchmarks/run.py                 # table
    python benchmarks/run.py --json          # last stdout line: one JSON object
    python benchmarks/run.py --only lenet --rounds 7

For each workload both frameworks train the same model (same initial weights, same batch,
cross-entropy, Adam lr 1e-3, float32) in one process, alternating rounds of steps so that
machine noise hits both alike. Reported: the median milliseconds per step of each and their
ratio mathflow/PyTorch (below 1 means mathflow is faster). Peak memory is measured in separate
child processes, one per framework, as the growth of the peak resident set during training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workloads import WORKLOADS, Workload  # noqa: E402


def _batch(workload: Workload, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((workload.batch, *workload.sample_shape)).astype(np.float32)
    y = rng.integers(0, workload.classes, workload.batch)
    return x, y


def mathflow_step(workload: Workload, device: str = "cpu") -> tuple[Callable[[], float], Any]:
    """One mathflow training step on ``device`` (cpu or gpu), and the model it trains."""
    import mathflow as mf
    from mathflow import nn
    from mathflow.optim import Adam

    backend = mf.set_backend(device, dtype="float32", seed=0)
    model = workload.build_mathflow()
    optimizer = Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropy()
    x_np, y_np = _batch(workload)
    x, y = mf.tensor(backend.to_device(x_np)), backend.to_device(y_np)

    def step() -> float:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step, model


def torch_step(workload: Workload, reference: Any, device: str = "cpu") -> Callable[[], float]:
    """One PyTorch training step on ``device`` (cpu or cuda) from ``reference``'s initial weights."""
    import torch

    model = workload.build_torch(reference).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    x_np, y_np = _batch(workload)
    x, y = torch.from_numpy(x_np).to(device), torch.from_numpy(y_np).to(device)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _time_steps(step: Callable[[], float], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def _steps_per_round(step: Callable[[], float]) -> int:
    """Enough steps for a round of roughly 0.2 s."""
    ms = _time_steps(step, 3)
    return max(3, min(200, int(200 / max(ms, 1e-3))))


def time_workload(workload: Workload, rounds: int) -> dict[str, Any]:
    mf_step, reference = mathflow_step(workload)
    pt_step = torch_step(workload, reference)
    first = (mf_step(), pt_step())  # also warms up
    steps = max(_steps_per_round(mf_step), _steps_per_round(pt_step))
    mf_times, pt_times = [], []
    for _ in range(rounds):
        mf_times.append(_time_steps(mf_step, steps))
        pt_times.append(_time_steps(pt_step, steps))
    mf_ms, pt_ms = statistics.median(mf_times), statistics.median(pt_times)
    return {
        "mathflow_ms": round(mf_ms, 4),
        "torch_ms": round(pt_ms, 4),
        "ratio": round(mf_ms / pt_ms, 3),
        "first_loss": {"mathflow": round(first[0], 6), "torch": round(first[1], 6)},
        "steps_per_round": steps,
        "rounds": rounds,
    }


def _peak_child(side: str, name: str, steps: int) -> float:
    """Run one side alone in a child process; return its peak-RSS growth in MiB.

    The peak is the kernel's resident high-water mark (VmHWM), which, unlike ru_maxrss, starts
    afresh in the child instead of inheriting the parent's peak.

    The baseline is taken after the imports (and, for PyTorch, after building the mathflow
    model whose initial weights it copies), so the figure covers the model, the optimizer
    state and the training steps.
    """
    here = Path(__file__).resolve().parent
    code = "\n".join(
        [
            "import sys",
            f"sys.path[:0] = {[str(here.parent), str(here)]!r}",
            "import run, workloads",
            f"w = workloads.WORKLOADS[{name!r}]",
            "def peak(): return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])",
            "import mathflow, torch" if side == "torch" else "import mathflow",
            "ref = w.build_mathflow() if " + repr(side == "torch") + " else None",
            "base = peak()",
            "step = run.torch_step(w, ref) if ref is not None else run.mathflow_step(w)[0]",
            f"[step() for _ in range({steps})]",
            "print((peak() - base) / 1024)",
        ]
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS), help="workloads to run (default: all)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds per workload")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: pip install torch==2.13.0 (CPU build) to compare", file=sys.stderr)
        return 2

    results: dict[str, Any] = {}
    for name in args.only or list(WORKLOADS):
        workload = WORKLOADS[name]
        result = time_workload(workload, args.rounds)
        if not args.no_memory:
            result["peak_mib"] = {
                "mathflow": _peak_child("mathflow", name, 20),
                "torch": _peak_child("torch", name, 20),
            }
        results[name] = result
        if not args.json:
            mem = result.get("peak_mib")
            mem_text = f"  peak +{mem['mathflow']:.1f} / +{mem['torch']:.1f} MiB" if mem else ""
            print(
                f"{name:<10} mathflow {result['mathflow_ms']:9.3f} ms  torch {result['torch_ms']:9.3f} ms  "
                f"ratio {result['ratio']:.3f}{mem_text}"
            )
    import threadpoolctl

    blas = threadpoolctl.threadpool_info()
    summary = {
        "device": "cpu",
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "blas": [f"{b.get('internal_api')} {b.get('version')} {b.get('architecture', '')}".strip() for b in blas],
        "workloads": results,
    }
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
