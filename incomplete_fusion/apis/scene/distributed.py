"""Ranks under ``torch.distributed`` (through mmengine) and row windows of a scene.

:func:`start_distributed` joins the process group of torchrun or SLURM (gloo on CPU,
nccl on GPUs, each rank on ``cuda:LOCAL_RANK``); :func:`row_windows` cuts a scene's
output rows into one band per rank (multiples of 16) and :func:`assemble_windows`
streams the ranks' window rasters into the scene's output. A window's pixels come
from the same model calls as in one process (:mod:`.stream`), so the assembled
raster is byte-identical to a one-process run with the same threads per process.
See docs/user_guides/3_inference.md.
"""
import json
import os
import subprocess
from typing import Any, List, Sequence, Tuple

import rasterio
import torch
import torch.distributed as torch_dist
from mmengine.dist import barrier, get_dist_info, init_dist

from .geotiff import STRIP_ROWS, GeoTiffWriter

__all__ = ['start_distributed', 'row_windows', 'assemble_windows', 'gather', 'barrier',
           'get_dist_info']

LAUNCHERS = ('none', 'pytorch', 'slurm')


def _slurm_env() -> None:
    """torchrun's variables from SLURM's (what mmengine's slurm launcher sets)."""
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        nodes = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1')


def start_distributed(launcher: str = 'none', device: str = 'cpu') -> Tuple[int, int, str]:
    """Join the process group of ``launcher``; returns ``(rank, world_size, device)``.

    ``device='cuda'``/``'cuda:N'`` with a GPU: nccl (mmengine's ``init_dist``), this
    rank's ``cuda:LOCAL_RANK``; otherwise gloo on CPU (also where GPUs exist: the
    process group is always joined, or every rank would run every scene).
    ``'none'``: a single process.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher must be one of {LAUNCHERS}, got {launcher!r}')
    if launcher == 'none':
        return 0, 1, device
    if not torch_dist.is_initialized():
        if str(device).startswith('cuda') and torch.cuda.is_available():
            init_dist(launcher, backend='nccl')
        else:  # gloo, also on a GPU machine run with --device cpu
            if launcher == 'slurm':
                _slurm_env()
            torch_dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                          world_size=int(os.environ['WORLD_SIZE']))
    if str(device).startswith('cuda') and torch.cuda.is_available():
        device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    rank, world = get_dist_info()
    return rank, world, device


def row_windows(height: int, parts: int) -> List[Tuple[int, int]]:
    """``parts`` bands of output rows ``[a, b)`` covering ``height`` rows, cut at
    multiples of 16 (some may be empty, ``a == b``, for short scenes)."""
    cuts = [0]
    for k in range(1, parts):
        cut = int(round(height * k / parts / STRIP_ROWS)) * STRIP_ROWS
        cuts.append(min(max(cut, cuts[-1]), height))
    cuts.append(height)
    return list(zip(cuts[:-1], cuts[1:]))


def assemble_windows(parts: Sequence[Tuple[str, int]], out_path: str, height: int,
                     format: str = 'cog', remove: bool = True) -> str:
    """Stream window rasters ``(path, first row)`` (from ranks, in any order) into
    ``out_path`` (``height`` rows), keeping their georeferencing, colour table,
    class names and band descriptions; 16 rows at a time."""
    parts = sorted(parts, key=lambda p: p[1])
    with rasterio.open(parts[0][0]) as src:
        tags = src.tags(1)
        names = tags.get('CLASS_NAMES')
        colormap = None
        if names is not None:
            colormap = src.colormap(1)
        options = dict(crs=src.crs, transform=src.transform, nodata=src.nodata,
                       tags={k: v for k, v in src.tags().items() if k != 'AREA_OR_POINT'},
                       descriptions=[d or '' for d in src.descriptions],
                       class_names=json.loads(names) if names else None,
                       colormap=colormap, format=format)
        count, width, dtype = src.count, src.width, src.dtypes[0]
    with GeoTiffWriter(out_path, height, width, count, dtype, **options) as writer:
        for path, row0 in parts:
            with rasterio.open(path) as src:
                for y in range(0, src.height, STRIP_ROWS):
                    rows = min(STRIP_ROWS, src.height - y)
                    block = src.read(window=rasterio.windows.Window(0, y, width, rows))
                    writer.write_rows(row0 + y, block)
    if remove:
        for path, _ in parts:
            for f in (path, path + '.aux.xml'):
                if os.path.exists(f):
                    os.remove(f)
    return writer.path


def gather(obj: Any) -> List[Any]:
    """``obj`` of every rank, in rank order (``[obj]`` in a single process)."""
    _, world = get_dist_info()
    if world == 1:
        return [obj]
    gathered = [None] * world
    torch_dist.all_gather_object(gathered, obj)
    return gathered
