#!/usr/bin/env bash
# The whole GPU check in one go, for a machine with a CUDA GPU, CuPy, NumPy, PyTorch (CUDA) and
# Python 3.12 but no network and no pydantic/mlflow:
#
#   bash benchmarks/gpu_check.sh            # from the repository root, or from anywhere
#
# 1. makes a venv that sees the system's CuPy/NumPy/PyTorch and installs the remaining dependencies
#    offline from ./wheelhouse (made beforehand with the recipe in docs/gpu.md);
# 2. pytest -m gpu (every GPU path against its CPU path) and the NVRTC compile test;
# 3. benchmarks/run_gpu.py against PyTorch CUDA eager in the same process (JSON kept);
# 4. mathflow run pipelines/cnn.yaml --device gpu.
# Logs and JSON go to $OUT (the device runner's output folder) or a fresh temporary folder.
# Environment: PYTHON (default python3), WHEELHOUSE (default ./wheelhouse), VENV (default
# /tmp/mathflow-gpu-venv), ROUNDS (benchmark rounds, default 7), EPOCHS (cnn.yaml epochs, default
# the pipeline's), STEP_TIMEOUT (seconds per step, default 420).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WHEELS=${WHEELHOUSE:-$ROOT/wheelhouse}
VENV=${VENV:-/tmp/mathflow-gpu-venv}
RESULTS=${OUT:-$(mktemp -d)}
ROUNDS=${ROUNDS:-7}
STEP_TIMEOUT=${STEP_TIMEOUT:-420}
DEPS="pydantic mlflow-skinny sqlalchemy alembic typer rich pyyaml pytest hypothesis"
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export CUPY_TF32=0
mkdir -p "$RESULTS"
status=0

section() { printf '\n=== %s ===\n' "$*"; }
step() {  # step NAME COMMAND...: run with a timeout, log to $RESULTS/NAME.log, remember failures
    local name=$1
    shift
    section "$name: $*"
    local start=$SECONDS
    timeout "$STEP_TIMEOUT" "$@" 2>&1 | tee "$RESULTS/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "--- $name: exit $rc in $((SECONDS - start)) s"
    [ "$rc" -eq 0 ] || status=1
    return "$rc"
}

section environment
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not available"
"$PY" - <<'EOF'
import platform
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch"):
    try:
        module = __import__(name)
        print(name, module.__version__)
    except Exception as exc:  # noqa: BLE001
        print(name, "MISSING:", exc)
try:
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    print("device", props["name"].decode(), "sm_%d%d" % (props["major"], props["minor"]),
          "cuda runtime", cupy.cuda.runtime.runtimeGetVersion(), "driver", cupy.cuda.runtime.driverGetVersion())
except Exception as exc:  # noqa: BLE001
    print("cupy device: NONE:", exc)
EOF

section "install (offline, from $WHEELS)"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv --system-site-packages "$VENV" || { echo "cannot create $VENV"; exit 2; }
fi
if [ -d "$WHEELS" ]; then
    # shellcheck disable=SC2086
    "$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELS" $DEPS || status=1
elif ! "$VENV/bin/python" -c "import pydantic, mlflow, typer, rich, yaml, pytest" 2>/dev/null; then
    echo "no wheelhouse at $WHEELS and the dependencies are missing: see docs/gpu.md (wheelhouse recipe)"
    exit 2
fi
VPY=$VENV/bin/python
"$VPY" -c "import mathflow as mf; print('mathflow', mf.__version__ if hasattr(mf, '__version__') else '', \
'gpu_available', mf.gpu_available(), mf.Backend('gpu').device_name if mf.gpu_available() else '')" || exit 2

step pytest_gpu "$VPY" -m pytest -q -rs -m gpu -p no:cacheprovider --continue-on-collection-errors tests/
step nvrtc "$VPY" -m pytest -q -rs -p no:cacheprovider tests/test_nvrtc_compile.py tests/test_cuda_kernels.py
step benchmark "$VPY" benchmarks/run_gpu.py --rounds "$ROUNDS" --json
tail -n 1 "$RESULTS/benchmark.log" > "$RESULTS/gpu_bench.json" 2>/dev/null
CNN_ARGS=(--device gpu --tracking-uri "$RESULTS/mlflow.db" --json)
[ -n "${EPOCHS:-}" ] && CNN_ARGS+=(--set "train.epochs=$EPOCHS")
step cnn_gpu "$VPY" -m mathflow.cli run pipelines/cnn.yaml "${CNN_ARGS[@]}"

section figures
"$VPY" - "$RESULTS" <<'EOF'
import json, sys
from pathlib import Path
results = Path(sys.argv[1])
try:
    bench = json.loads((results / "gpu_bench.json").read_text())
    print(f"device {bench['device_name']}  cupy {bench['cupy']}  torch {bench['torch']}")
    for case, r in bench["workloads"].items():
        print(f"{case:<15} mathflow {r['mathflow_ms']:8.3f} ms  torch {r['torch_ms']:8.3f} ms  ratio {r['ratio']:.3f}"
              f"  throughput vs torch {r['throughput_vs_torch']:.3f}  target: {r.get('meets_target')}"
              f"  first loss {r['first_loss']['mathflow']} / {r['first_loss']['torch']}"
              f"  pool {r['memory_first_round']['cupy_total']} -> {r['memory_last_round']['cupy_total']} B")
except Exception as exc:  # noqa: BLE001
    print("benchmark: no figures:", exc)
try:
    line = (results / "cnn_gpu.log").read_text().strip().splitlines()[-1]
    print("cnn.yaml on gpu:", line[:2000])
except Exception as exc:  # noqa: BLE001
    print("cnn.yaml: no figures:", exc)
EOF
echo "logs and JSON in $RESULTS; overall: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
