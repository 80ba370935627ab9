#!/usr/bin/env bash
# The device check in one command: build the venv (with mmcv's CUDA ops on a GPU
# machine), then run benchmarks/device_check.py: the device-parametrised tests, the
# backbone per attention implementation, one short training run and inference per
# modality subset of each paper config, without and with bf16 AMP. Stops by itself
# inside the budget (default 540 s, setup included) and writes one JSON report:
# $OUT/device_check.json when OUT is set, else work_dirs/device_check.json.
#
#   bash benchmarks/device_check.sh                 # CUDA: FORCE_CUDA=1 build, then the checks
#   bash benchmarks/device_check.sh --skip-setup    # CUDA, with the .venv already built
#   bash benchmarks/device_check.sh --cpu           # CPU, tiny sizes (< 2 min on 2 cores)
#   bash benchmarks/device_check.sh --python /opt/x/bin/python   # an interpreter that has the stack
#
# Further arguments go to device_check.py (config paths, --attention auto, --out FILE).
# Environment: DEVICE_CHECK_BUDGET (s, default 540), SETUP_TIMEOUT (s; default 420 on
# CUDA, 120 on CPU, where the venv is expected to be up to date).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
start=$(date +%s)
budget="${DEVICE_CHECK_BUDGET:-540}"
mode=cuda
setup=1
py="$repo/.venv/bin/python"
args=()
while (($#)); do
  case "$1" in
    --cpu) mode=cpu ;;
    --skip-setup) setup=0 ;;
    --python) py="$2"; setup=0; shift ;;
    *) args+=("$1") ;;
  esac
  shift
done
out_dir="${OUT:-$repo/work_dirs}"
mkdir -p "$out_dir"
say() { echo "[device_check] $*"; }

setup_rc=skipped
setup_s=0
if ((setup)); then
  if [[ $mode == cuda ]]; then
    command -v nvcc >/dev/null || say "warning: no nvcc on PATH: mmcv's CUDA ops cannot be compiled"
    export FORCE_CUDA=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    # build for this GPU only (far shorter than every architecture)
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1)
    [[ -n "$cap" ]] && export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$cap}"
    setup_timeout="${SETUP_TIMEOUT:-420}"
  else
    setup_timeout="${SETUP_TIMEOUT:-120}"
  fi
  say "setup: tools/setup_env.sh (FORCE_CUDA=${FORCE_CUDA:-0}, MAX_JOBS=${MAX_JOBS:-}," \
      "TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-}), up to ${setup_timeout} s," \
      "log $out_dir/device_check_setup.log"
  t0=$(date +%s)
  timeout --kill-after=10 "$setup_timeout" bash tools/setup_env.sh >"$out_dir/device_check_setup.log" 2>&1
  setup_rc=$?
  setup_s=$(($(date +%s) - t0))
  say "setup: exit $setup_rc after ${setup_s} s"
  if ((setup_rc != 0)); then
    ((setup_rc == 124)) && say "setup timed out: rerun with a larger SETUP_TIMEOUT, or build once and use --skip-setup"
    tail -n 15 "$out_dir/device_check_setup.log"
  fi
fi
if ! "$py" -c "import torch" 2>/dev/null; then
  say "no usable interpreter $py (torch does not import): nothing measured"
  printf '{"device": "%s", "setup": {"seconds": %s, "rc": "%s"}, "error": "no interpreter with torch"}\n' \
    "$mode" "$setup_s" "$setup_rc" >"$out_dir/device_check.json"
  exit 1
fi
left=$((budget - ($(date +%s) - start)))
say "checks: ${left} s of the ${budget} s budget left"
export PYTHONUNBUFFERED=1
timeout --kill-after=10 $((left > 30 ? left : 30)) "$py" benchmarks/device_check.py --device "$mode" \
  --budget "$left" --setup-seconds "$setup_s" --setup-rc "$setup_rc" \
  --out "$out_dir/device_check.json" "${args[@]}"
