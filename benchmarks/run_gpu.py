"""Training-step speed of mathflow on CuPy beside PyTorch CUDA eager, on one GPU.

    python benchmarks/run_gpu.py                 # table
    python benchmarks/run_gpu.py --json          # last stdout line: one JSON object
    python benchmarks/run_gpu.py --only lenet-512 --rounds 9

Cases: the CPU benchmark's workloads (mlp-small at 32, mlp-large, lenet at 64) with mlp-large
at batch 4096 and lenet also at batch 512. Both frameworks train the same model from the same
initial weights on the same batch (cross-entropy, Adam lr 1e-3, float32) in one process, in
alternating rounds; every step ends with ``loss.item()``, which waits for the device. TF32 is
off on both sides (``CUPY_TF32=0``; PyTorch's matmul and cuDNN TF32 flags off, matmul precision
"highest"). Reported per case: median milliseconds per step of each side, their ratio
mathflow/PyTorch, throughput in samples/s, the memory-pool bytes after the run and whether the
issue's target is met (``TARGETS``); the JSON names the device and the registered CUDA kernels.
Without CuPy, a CUDA device or CUDA PyTorch the script says so and exits with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("CUPY_TF32", "0")  # before CuPy is imported anywhere

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import _steps_per_round, _time_steps, mathflow_step, torch_step  # noqa: E402
from workloads import WORKLOADS, Workload  # noqa: E402

#: case name → (workload, batch size)
CASES: dict[str, tuple[str, int]] = {
    "mlp-small": ("mlp-small", 32),
    "mlp-large-4096": ("mlp-large", 4096),
    "lenet-64": ("lenet", 64),
    "lenet-512": ("lenet", 512),
}
WARMUP_STEPS = 10  # kernel compilation and memory-pool growth happen here, outside the timing
#: the issue's targets: case → (figure, bound, "max" or "min")
TARGETS: dict[str, tuple[str, float, str]] = {
    "mlp-small": ("ratio", 1.0, "max"),
    "mlp-large-4096": ("throughput_vs_torch", 0.85, "min"),
    "lenet-64": ("ratio", 1.0, "max"),
}


def meets_target(case: str, result: dict[str, Any]) -> bool | None:
    """Whether ``result`` meets the issue's target for ``case`` (None: no target)."""
    if case not in TARGETS:
        return None
    figure, bound, kind = TARGETS[case]
    return result[figure] <= bound if kind == "max" else result[figure] >= bound


def case_workload(case: str) -> Workload:
    """The workload of ``case`` with its batch size."""
    name, batch = CASES[case]
    return dataclasses.replace(WORKLOADS[name], batch=batch)


def missing_requirements() -> str | None:
    """Why this machine cannot run the GPU benchmark, or None when it can."""
    import mathflow as mf

    if not mf.gpu_available():
        return "no GPU for mathflow: CuPy is not installed or sees no CUDA device (pip install mathflow[cuda12])"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed: install a CUDA build of torch to compare"
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} has no CUDA device (a CPU-only build?)"
    return None


def _pool_bytes() -> dict[str, int]:
    import cupy
    import torch

    pool = cupy.get_default_memory_pool()
    return {
        "cupy_used": int(pool.used_bytes()),
        "cupy_total": int(pool.total_bytes()),
        "torch_allocated": int(torch.cuda.memory_allocated()),
    }


def time_case(case: str, rounds: int) -> dict[str, Any]:
    workload = case_workload(case)
    mf_step, reference = mathflow_step(workload, "gpu")
    pt_step = torch_step(workload, reference, "cuda")
    first = (mf_step(), pt_step())
    for _ in range(WARMUP_STEPS):
        mf_step()
        pt_step()
    steps = max(_steps_per_round(mf_step), _steps_per_round(pt_step))
    mf_times, pt_times = [], []
    pools = []
    for _ in range(rounds):
        mf_times.append(_time_steps(mf_step, steps))
        pt_times.append(_time_steps(pt_step, steps))
        pools.append(_pool_bytes())
    mf_ms, pt_ms = statistics.median(mf_times), statistics.median(pt_times)
    return {
        "batch": workload.batch,
        "mathflow_ms": round(mf_ms, 4),
        "torch_ms": round(pt_ms, 4),
        "ratio": round(mf_ms / pt_ms, 3),
        "mathflow_samples_per_s": round(workload.batch / mf_ms * 1e3, 1),
        "torch_samples_per_s": round(workload.batch / pt_ms * 1e3, 1),
        "throughput_vs_torch": round(pt_ms / mf_ms, 3),
        "first_loss": {"mathflow": round(first[0], 6), "torch": round(first[1], 6)},
        "steps_per_round": steps,
        "rounds": rounds,
        "memory_first_round": pools[0],
        "memory_last_round": pools[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last stdout line")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="cases to run (default: all)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds per case")
    args = parser.parse_args(argv)

    problem = missing_requirements()
    if problem is not None:
        print(f"run_gpu: cannot benchmark on a GPU: {problem}", file=sys.stderr)
        return 2

    import cupy
    import torch

    import mathflow as mf

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")

    from mathflow.kernels import cuda

    results: dict[str, Any] = {}
    for case in args.only or list(CASES):
        result = time_case(case, args.rounds)
        result["meets_target"] = meets_target(case, result)
        results[case] = result
        if not args.json:
            verdict = ""
            if case in TARGETS:
                figure, bound, kind = TARGETS[case]
                met = "met" if result["meets_target"] else "MISSED"
                verdict = f"  target {figure} {'<=' if kind == 'max' else '>='} {bound}: {met}"
            print(
                f"{case:<15} mathflow {result['mathflow_ms']:9.3f} ms  torch {result['torch_ms']:9.3f} ms  "
                f"ratio {result['ratio']:.3f}  throughput vs torch {result['throughput_vs_torch']:.3f}{verdict}"
            )
    summary = {
        "device": "gpu",
        "device_name": mf.Backend("gpu").device_name,
        "torch_device_name": torch.cuda.get_device_name(0),
        "cupy": cupy.__version__,
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "torch": torch.__version__,
        "tf32": {
            "cupy": os.environ.get("CUPY_TF32", "0"),
            "torch_matmul": torch.backends.cuda.matmul.allow_tf32,
            "torch_cudnn": torch.backends.cudnn.allow_tf32,
        },
        "kernels": sorted(cuda.registered()),
        "targets": {case: list(target) for case, target in TARGETS.items()},
        "workloads": results,
    }
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
