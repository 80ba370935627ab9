"""A stream of scene tiles through the model: read ahead, batched by a fixed rule.

Tiles are read and packed by ``workers`` threads, at most ``depth`` tiles ahead (a
bounded queue), and come back in order. A batch is at most ``batch_size`` consecutive
tiles of one tile row of one scene, a function of the scene and the row alone, so a
scene's rasters are byte-identical however it is run (same machine, torch build and
threads); ``mix_scenes=True`` fills batches across rows and scenes (equal up to float32
rounding). Predictions go back to each run in tile order; a run whose tile cannot be
read or merged is closed without output and reported through ``on_close``, the
others go on. See docs/user_guides/3_inference.md#reproducibility.
"""
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple

import torch
from mmengine.dataset import pseudo_collate
from tqdm import tqdm

from .read import TileReader
from .tiles import Tile

__all__ = ['StreamStats', 'read_ahead', 'run_stream', 'predict_tiles']

# A run: ``tiles``, ``modality_set``, ``prepare(tile) -> (packed or None, valid)``,
# ``add(tile, sample, valid)``, ``skip(tile)``, ``model_seconds``/``wait_seconds``
# counters, and a context manager whose clean exit writes its outputs.
Job = Tuple[Any, Tile]


@torch.no_grad()
def predict_tiles(model: torch.nn.Module, tiles, reader: Optional[TileReader] = None) -> list:
    """Run the model on a batch of tiles through ``model.test_step``, as ``tools/test.py`` does.

    ``tiles``: packed samples (:meth:`TileReader.pack`) or normalised (C, H, W)
    arrays / a (B, C, H, W) array (NaN = missing), packed by ``reader`` (default:
    the model config's, :meth:`TileReader.from_model`). Returns the model's data
    samples: ``seg_logits``/``pred_sem_seg`` (mmseg), ``pred_instances`` (mmdet).
    """
    packed = [t for t in tiles if isinstance(t, dict)]
    if len(packed) != len(tiles):
        reader = reader or TileReader.from_model(model)
        packed = [t if isinstance(t, dict) else reader.pack_array(t) for t in tiles]
    return model.test_step(pseudo_collate(packed))


@dataclass
class StreamStats:
    """Where the time of a stream went (``seconds``: wall time of the whole stream)."""

    tiles: int = 0
    tiles_run: int = 0
    batches: int = 0
    seconds: float = 0.0
    model_seconds: float = 0.0  # inside model.test_step
    wait_seconds: float = 0.0   # the model waiting for the reader

    @property
    def reading_share(self) -> float:
        """Share of the wall time in which the model waited for data."""
        return self.wait_seconds / self.seconds if self.seconds else 0.0

    @property
    def tiles_per_second(self) -> float:
        return self.tiles / self.seconds if self.seconds else 0.0


def _prepare(run, tile: Tile):
    try:
        return run.prepare(tile)
    except Exception as exc:  # noqa: BLE001 - reported for this scene only
        return exc


def _waited(stats: StreamStats, run, seconds: float) -> None:
    stats.wait_seconds += seconds
    if hasattr(run, 'wait_seconds'):
        run.wait_seconds += seconds


def read_ahead(jobs: Iterable[Job], workers: int = 1, depth: int = 8,
               stats: Optional[StreamStats] = None) -> Iterator[tuple]:
    """``(run, tile, loaded)`` in the order of ``jobs``; ``loaded`` is ``run.prepare(tile)``
    or the exception it raised. At most ``depth`` tiles are read ahead; the time spent
    waiting for a tile is added to ``stats.wait_seconds``."""
    stats = stats if stats is not None else StreamStats()
    if workers <= 0:
        for run, tile in jobs:
            tic = time.perf_counter()
            loaded = _prepare(run, tile)
            _waited(stats, run, time.perf_counter() - tic)
            yield run, tile, loaded
        return
    queue = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix='tile-reader') as pool:
        def pop():
            run, tile, future = queue.popleft()
            tic = time.perf_counter()
            loaded = future.result()
            _waited(stats, run, time.perf_counter() - tic)
            return run, tile, loaded

        for run, tile in jobs:
            queue.append((run, tile, pool.submit(_prepare, run, tile)))
            if len(queue) >= max(1, depth):
                yield pop()
        while queue:
            yield pop()


def run_stream(model, jobs: Iterable[Job], batch_size: int = 4, workers: int = 1,
               depth: Optional[int] = None, mix_scenes: bool = False,
               on_close: Optional[Callable[[Any, Optional[BaseException]], None]] = None,
               progress: bool = False, stats: Optional[StreamStats] = None) -> StreamStats:
    """Predict every ``(run, tile)`` of ``jobs`` (each run's tiles in order, runs one
    after the other); ``on_close(run, error)`` after a run's outputs are written
    (``error=None``) or discarded. All runs must share one modality set (the model is
    bound to it). ``depth``: tiles read ahead (default ``2 * batch_size``).
    A batch holds tiles of one tile row of one run (``mix_scenes=True``: of any rows
    and runs); the reader reads ahead across rows and runs either way. Returns
    ``stats`` (a new :class:`StreamStats` if not given), filled in."""
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    stats = StreamStats() if stats is None else stats
    depth = 2 * batch_size if depth is None else depth
    remaining, failed, pending = {}, set(), []
    modality_set = None
    tic = time.perf_counter()
    bar = tqdm(total=None, desc='scene tiles', unit='tile', disable=not progress)

    def close(run, error: Optional[BaseException]) -> None:
        remaining.pop(run, None)
        if error is not None:
            failed.add(run)
        run.__exit__(type(error) if error else None, error, None)
        if on_close is not None:
            on_close(run, error)

    def tagged(jobs):  # enter each run at its first tile; count its tiles
        nonlocal modality_set
        for run, tile in jobs:
            if run not in remaining and run not in failed:
                if modality_set is None:
                    modality_set = run.modality_set
                elif run.modality_set != modality_set:
                    raise ValueError('scenes batched together must share one modality set')
                run.__enter__()
                remaining[run] = len(run.tiles)
                bar.total = (bar.total or 0) + len(run.tiles)
                bar.refresh()
            yield run, tile

    def flush_batch() -> None:
        real = [p for p in pending if p[2] is not None and p[0] not in failed]
        samples: List = []
        if real:
            t0 = time.perf_counter()
            try:
                samples = predict_tiles(model, [p[2] for p in real])
            except Exception as exc:  # noqa: BLE001 - fails the scenes of this batch
                for run in {p[0] for p in real}:
                    close(run, exc)
                samples = []
            seconds = time.perf_counter() - t0
            stats.model_seconds += seconds
            stats.batches += 1
            for run, *_ in real:
                run.model_seconds += seconds / len(real)
        results = iter(samples)
        for run, tile, packed, valid in pending:
            if run in failed:
                continue
            try:
                if packed is None:
                    run.skip(tile)
                else:
                    run.add(tile, next(results), valid)
                    stats.tiles_run += 1
            except Exception as exc:  # noqa: BLE001
                close(run, exc)
                continue
            remaining[run] -= 1
            if remaining[run] == 0:
                close(run, None)
        pending.clear()

    try:
        for run, tile, loaded in read_ahead(tagged(jobs), workers, depth, stats):
            stats.tiles += 1
            bar.update(1)
            if run in failed:
                continue
            if isinstance(loaded, BaseException):
                close(run, loaded)
                continue
            packed, valid = loaded
            if not mix_scenes and pending and (pending[-1][0] is not run
                                               or pending[-1][1].row != tile.row):
                flush_batch()
            pending.append((run, tile, packed, valid))
            if sum(p[2] is not None for p in pending) >= batch_size:
                flush_batch()
        flush_batch()
    finally:
        bar.close()
        for run in list(remaining):  # interrupted: discard unfinished outputs
            close(run, RuntimeError('stream interrupted'))
    stats.seconds = time.perf_counter() - tic
    return stats
