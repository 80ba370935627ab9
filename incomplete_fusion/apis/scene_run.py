"""One scene being predicted: its plan, tiles, pipeline and merger.

:class:`SceneRun` is what :func:`~.inference.infer_scene` used to do inline, cut
at the model call so that a stream of tiles (:mod:`.tile_stream`) can feed one
batch from several scenes: ``load`` reads and packs one tile (thread-safe, run by
the reader pool), ``add``/``skip`` take the tile's prediction back **in tile
order**, and every finished tile row is flushed to the outputs at once.
"""
import time
from typing import Optional, Tuple

import numpy as np

from ..binding import bind
from .geotiff import STRIP_ROWS
from .merging import InstanceMerger, SemanticMerger
from .model import default_tile_size, model_task
from .scene import ScenePlan
from .scene_pipeline import ScenePipeline
from .tiling import Tile, plan_tiles

__all__ = ['SceneRun', 'SIZE_DIVISOR']

SIZE_DIVISOR = 32  # Mask2Former's coarsest stride


class SceneRun:
    """Tiles of one planned scene and the merger writing its outputs.

    Args: those of :func:`~.inference.infer_scene` (``plan`` already made).
    Use as a context manager (the outputs appear only on a clean exit).
    """

    def __init__(self, model, plan: ScenePlan, out_path, tile_size: Optional[int] = None,
                 overlap: Optional[int] = None, score_thr: float = 0.5,
                 max_instance_overlap: float = 0.5, geojson_path=None, scores_path=None,
                 format: str = 'cog', rows: Optional[Tuple[int, int]] = None,
                 vector_format: str = 'geojson', name: Optional[str] = None):
        self.start_time = time.perf_counter()
        self.model, self.plan, self.name = model, plan, name
        self.task = model_task(model)
        tile_size = int(tile_size or default_tile_size(getattr(model, 'cfg', None)))
        if tile_size % SIZE_DIVISOR:
            raise ValueError(f'tile_size must be a multiple of {SIZE_DIVISOR}, got {tile_size}')
        overlap = tile_size // 4 if overlap is None else int(overlap)
        grid = plan.grid
        tiles = plan_tiles(grid.height, grid.width, tile_size, overlap)
        row0, row1 = (0, grid.height) if rows is None else (int(rows[0]), int(rows[1]))
        if rows is not None:
            if row0 % STRIP_ROWS or (row1 % STRIP_ROWS and row1 != grid.height) or \
                    not 0 <= row0 < row1 <= grid.height:
                raise ValueError(f'rows must be multiples of {STRIP_ROWS} inside the grid '
                                 f'(height {grid.height}), got {rows}')
            tiles = [t for t in tiles if t.y0 < row1 and t.y0 + t.size > row0]
        self.tiles, self.rows = tiles, (row0, row1)
        # the first tile of the next tile row (or the end): flush up to there after a row
        self._next_y = {}
        for tile, following in zip(tiles, tiles[1:] + [None]):
            if following is None or following.row != tile.row:
                self._next_y[(tile.row, tile.col)] = following.y0 if following else row1
        bind(plan.modality_set, model)
        self.pipeline = ScenePipeline.from_model(model, plan.modality_set)
        model.eval()
        args = (model, plan, tile_size, overlap, out_path)
        options = dict(format=format, rows=(row0, row1), first_row=tiles[0].y0)
        if self.task == 'semantic':
            self.merger = SemanticMerger(*args, scores_path=scores_path, **options)
        else:
            self.merger = InstanceMerger(*args, score_thr=score_thr, geojson_path=geojson_path,
                                         max_overlap=max_instance_overlap,
                                         vector_format=vector_format, **options)
        self.num_run = 0
        self.model_seconds = 0.0
        self.wait_seconds = 0.0

    @property
    def modality_set(self):
        return self.plan.modality_set

    def __enter__(self) -> 'SceneRun':
        self.merger.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.merger.__exit__(*exc)

    def load(self, tile: Tile) -> Tuple[Optional[dict], np.ndarray]:
        """The packed model input of ``tile`` (``None`` if it has no data) and its
        valid-pixel mask. Thread-safe: files are opened per call."""
        loaded = self.pipeline.load(self.plan, tile)
        valid = np.isfinite(loaded['img']).any(axis=-1)
        if not valid.any():
            return None, valid
        return self.pipeline.pack(loaded), valid

    def add(self, tile: Tile, sample, valid: np.ndarray) -> None:
        """Merge the prediction of ``tile`` (tiles come back in order)."""
        self.merger.add(tile, sample, valid)
        self.num_run += 1
        self._done(tile)

    def skip(self, tile: Tile) -> None:
        """``tile`` had no data (nothing to merge)."""
        self._done(tile)

    def _done(self, tile: Tile) -> None:
        next_y = self._next_y.get((tile.row, tile.col))
        if next_y is not None:
            self.merger.flush(next_y)

    def result(self):
        from .inference import SceneResult
        plan, merger = self.plan, self.merger
        return SceneResult(
            path=merger.out.path, task=self.task, grid=plan.grid,
            reference_name=plan.reference_name, missing=plan.missing,
            num_tiles=len(self.tiles), num_tiles_run=self.num_run,
            seconds=time.perf_counter() - self.start_time, model_seconds=self.model_seconds,
            read_wait_seconds=self.wait_seconds, geojson_path=merger.geojson_path,
            scores_path=merger.scores_path, num_instances=merger.num_instances,
            peak_buffer_bytes=merger.buffer_bytes, ignored=plan.ignored)
