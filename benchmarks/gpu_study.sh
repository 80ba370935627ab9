#!/usr/bin/env bash
# The robustness study at the paper's model size on one CUDA GPU, meant to finish in
# about ten minutes (docs/results.md, "Robustness study"):
#
#   bash benchmarks/gpu_study.sh                      # writes work_dirs/gpu_study/robustness.*
#   bash benchmarks/gpu_study.sh --dry-run            # the plan: every config composed, nothing run
#   ITERS=300 JOBS=6 bash benchmarks/gpu_study.sh --work-dir /scratch/study
#
# Same variants and seeds as the CPU study (tools/robustness_study.py), but no CPU
# preset: FusionViT-T depth 12 at 256x256 (configs as shipped), 96+16+32 generated tiles
# of 256 px, ITERS iterations (default 500) at batch 8 (configs/demo/gpu_preset_study.py),
# MultiMAE pretrained PRETRAIN_EPOCHS epochs (default 50, configs/demo/gpu_preset_multimae.py).
# JOBS runs (default 8) share the GPU at a time: single small-model runs leave an H200
# mostly idle, so parallel runs cut the wall time. The ten-minute figure is an estimate
# (not measured: no GPU was available when this was written); the study prints its
# wall time and <work_dir>/timing.csv the time of every run, to rescale ITERS.
# Extra options are passed to tools/robustness_study.py (a later option of the same
# name wins, e.g. --seeds 0 or --cfg-options ... replaces the ones below).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python
JOBS=${JOBS:-8}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
exec "$PYTHON" tools/robustness_study.py \
    --work-dir work_dirs/gpu_study \
    --preset configs/demo/gpu_preset_study.py \
    --multimae-preset configs/demo/gpu_preset_multimae.py \
    --tile-size 256 --num-train 96 --num-val 16 --num-test 32 \
    --iters "${ITERS:-500}" --pretrain-epochs "${PRETRAIN_EPOCHS:-50}" \
    --seeds 0 1 2 --jobs "$JOBS" \
    "$@"
