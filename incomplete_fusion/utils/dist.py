"""Distributed start-up on machines without a GPU."""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def prepare_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Start the gloo process group ourselves when there is no GPU.

    mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` before
    ``init_process_group``, which fails on a CPU-only machine. When the process
    group already exists, the runner skips its own initialisation, so starting it
    here (gloo, from torchrun's environment variables) is enough. Also switches the
    config's ``env_cfg.dist_cfg.backend`` to gloo to keep the config truthful.

    Returns:
        True if this function initialised the process group.
    """
    if launcher != 'pytorch' or torch.cuda.is_available() or torch_dist.is_initialized():
        return False
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    torch_dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                  world_size=int(os.environ['WORLD_SIZE']))
    return True
