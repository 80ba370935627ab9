#!/usr/bin/env bash
# Create .venv in the repository and install the pinned OpenMMLab stack into it.
#
# Idempotent: a second run with unchanged pins finishes in seconds (a stamp file
# records the hash of requirements.txt, setup.py and this script).  mmcv 2.1.0 is a
# source-only release: it is compiled against the pinned torch (about 12 minutes on
# 2 cores the first time); pip's wheel cache keeps the result, and this script checks
# that the cached wheel really imports against the installed torch, rebuilding without
# the cache if it does not.  See README.md, "Why these pins".
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="$repo/.venv"
py="$venv/bin/python"
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null || python_bin=python3

pin() {  # the pinned `name==version` line of requirements.txt
  local line
  line=$(grep -E "^$1==" requirements.txt) || { echo "no pin for $1 in requirements.txt" >&2; exit 1; }
  echo "$line"
}

stamp_value=$(cat requirements.txt setup.py tools/setup_env.sh | sha256sum | cut -d' ' -f1)
stamp_file="$venv/.incomplete_fusion_stamp"
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_value" ]] \
   && "$py" -c "import mmcv.ops, incomplete_fusion" 2>/dev/null; then
  echo "[setup] .venv is up to date"
  exit 0
fi

[[ -x "$py" ]] || "$python_bin" -m venv "$venv"
pip_install() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

echo "[setup] build tools and torch"
pip_install "$(pin setuptools)" "$(pin wheel)" "$(pin torch)" "$(pin torchvision)" "$(pin numpy)"

echo "[setup] mmcv (compiled from source on first install; cached afterwards)"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
mmcv_ok() { "$py" -c "import mmcv.ops" >/dev/null 2>&1; }
if ! mmcv_ok; then
  pip_install --no-build-isolation "$(pin mmcv)" "$(pin opencv-python)"
  if ! mmcv_ok; then
    echo "[setup] cached mmcv wheel does not import against this torch: rebuilding"
    pip_install --no-build-isolation --no-cache-dir --force-reinstall --no-deps "$(pin mmcv)"
    mmcv_ok || { "$py" -c "import mmcv.ops"; exit 1; }
  fi
fi

echo "[setup] OpenMMLab libraries, runtime and test dependencies, the package"
pip_install -r requirements.txt --no-build-isolation -e .

"$py" -c "import mmcv.ops, mmdet.models, mmseg.models, mmpretrain.models, incomplete_fusion"
echo "$stamp_value" > "$stamp_file"
echo "[setup] done: $venv"
