#!/usr/bin/env bash
# Distributed scene inference on one machine with torchrun (torch.distributed via mmengine):
#   tools/dist_infer.sh CONFIG CHECKPOINT NPROC [tools/infer_scenes.py options...]
# Without a GPU the processes use gloo on CPU; with --device cuda, nccl and one GPU per
# process. NNODES, NODE_RANK, PORT and MASTER_ADDR as for tools/dist_test.sh. On SLURM,
# run tools/infer_scenes.py under srun with --launcher slurm (docs/user_guides/3_inference.md).
set -euo pipefail
TOOLS="$(cd "$(dirname "$0")" && pwd)"
CONFIG=$1; CHECKPOINT=$2; NPROC=$3; shift 3
export PYTHONPATH="$TOOLS/..:${PYTHONPATH:-}"
exec "${PYTHON:-python}" -m torch.distributed.run --nproc_per_node="$NPROC" \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    "$TOOLS/infer_scenes.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
