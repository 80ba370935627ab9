"""Georeferenced scene inference: GeoTIFFs of any size in, a GeoTIFF prediction out.

``infer_scene`` plans the scene once from file headers (errors before any
compute, see :mod:`.scene`; or takes a plan made earlier), then walks the
reference grid tile by tile in row-major order (:mod:`.tiling`): each tile goes
through the config's own test pipeline (:mod:`.scene_pipeline`: the training
loader reads the tile's window, ``Pack*Inputs`` packs it), batches of tiles run
through ``model.test_step``, the predictions are merged into a strip of
accumulators and every finished strip of rows is written (:mod:`.merging`).
Memory is bounded by one strip of the scene's width, never the whole scene.

Modules: :mod:`.model` (building), :mod:`.scene` (planning), :mod:`.tiling`,
:mod:`.scene_pipeline` (reading and packing), :mod:`.merging` + :mod:`.blending`
(merging), :mod:`.geotiff` (the one writer), this module (running).
"""
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from tqdm import tqdm

from ..binding import bind
from .geotiff import STRIP_ROWS
from .merging import InstanceMerger, SemanticMerger
from .model import default_tile_size, model_task
from .scene import PathLike, ScenePlan, plan_scene
from .scene_pipeline import ScenePipeline, model_modality_set, predict_tiles
from .tiling import Tile, plan_tiles

__all__ = ['infer_scene', 'SceneResult']

SIZE_DIVISOR = 32  # Mask2Former's coarsest stride


@dataclass
class SceneResult:
    """What :func:`infer_scene` wrote and how the scene was processed."""

    path: str
    task: str
    grid: object
    reference_name: Optional[str]
    missing: Tuple[str, ...]
    num_tiles: int
    num_tiles_run: int
    seconds: float
    model_seconds: float = 0.0  # of ``seconds``, spent in the model (test_step)
    geojson_path: Optional[str] = None
    scores_path: Optional[str] = None
    num_instances: int = 0
    peak_buffer_bytes: int = 0
    ignored: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def megapixels(self) -> float:
        return self.grid.height * self.grid.width / 1e6


def _group_rows(tiles: Sequence[Tile]) -> List[List[Tile]]:
    rows: Dict[int, List[Tile]] = {}
    for tile in tiles:
        rows.setdefault(tile.row, []).append(tile)
    return [rows[r] for r in sorted(rows)]


def _batches(items: Sequence, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _scene_plan(model, inputs, modality_specs, active, reference, extent,
                resolution) -> ScenePlan:
    if isinstance(inputs, ScenePlan):
        return inputs
    mset = model_modality_set(model) if modality_specs is None else modality_specs
    return plan_scene(inputs, mset, active, reference, extent, resolution)


def infer_scene(model: torch.nn.Module,
                inputs: Union[ScenePlan, Mapping[str, Optional[PathLike]]],
                out_path: PathLike,
                tile_size: Optional[int] = None,
                overlap: Optional[int] = None,
                reference=None,
                extent: str = 'union',
                resolution=None,
                batch_size: int = 4,
                score_thr: float = 0.5,
                max_instance_overlap: float = 0.5,
                geojson_path: Optional[PathLike] = None,
                scores_path: Optional[PathLike] = None,
                modality_specs: Optional[Sequence[dict]] = None,
                active: Optional[Sequence[str]] = None,
                progress: bool = True,
                format: str = 'cog',
                rows: Optional[Tuple[int, int]] = None) -> SceneResult:
    """Predict a whole scene and write a georeferenced GeoTIFF.

    Args:
        model: from :func:`~.model.init_model` (an mmseg segmentor or mmdet detector
            whose ``cfg`` declares ``modality_specs`` and has a test pipeline with
            ``LoadMultimodalImages``).
        inputs: modality name → GeoTIFF path (``None`` or absent = missing), or a
            :class:`ScenePlan` from :func:`plan_scene` (then ``reference``,
            ``extent``, ``resolution``, ``modality_specs`` and ``active`` are the
            plan's). Files may differ in resolution, extent and CRS; nodata is missing.
        out_path: output GeoTIFF (semantic: uint8 classes; instance: uint32 ids).
        tile_size: model input size; default the backbone's ``img_size``.
            Must be a multiple of 32.
        overlap: pixels shared by neighbouring tiles; default ``tile_size // 4``.
        reference, extent, resolution: the output grid, see :func:`plan_scene`.
        batch_size: tiles per forward pass.
        score_thr: instance mode: minimum score of a kept instance.
        max_instance_overlap: instance mode: an instance whose mask is covered by
            more than this fraction by already kept (higher-score or
            earlier-tile) instances is dropped as a duplicate.
        geojson_path: instance mode: polygons output; default ``out_path`` with
            ``.geojson``.
        scores_path: semantic mode, optional: also write the blended per-class
            scores (float32, one band per class; one probability band for a
            single-logit binary head; NaN where no input).
        modality_specs, active: override the model's declared / active modalities
            (the set is bound to the model and the pipeline for this scene).
        progress: show a tqdm bar of tiles done.
        format: ``'cog'`` (Cloud-Optimized GeoTIFF, default) or ``'gtiff'`` (striped).
        rows: semantic mode: only output rows ``[a, b)`` (multiples of 16, or ``b`` =
            the grid height), written as a raster of that window; only the tiles
            covering them run, and its pixels equal those rows of the whole-scene
            output (one rank's share of a scene, see :mod:`.distributed`).

    Raises:
        SceneInputError / UnknownModalityError: bad inputs, before any compute.
    """
    start_time = time.perf_counter()
    cfg = getattr(model, 'cfg', None)
    task = model_task(model)
    plan = _scene_plan(model, inputs, modality_specs, active, reference, extent, resolution)
    tile_size = int(tile_size or default_tile_size(cfg))
    if tile_size % SIZE_DIVISOR:
        raise ValueError(f'tile_size must be a multiple of {SIZE_DIVISOR}, got {tile_size}')
    overlap = tile_size // 4 if overlap is None else int(overlap)
    tiles = plan_tiles(plan.grid.height, plan.grid.width, tile_size, overlap)
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    row0, row1 = (0, plan.grid.height) if rows is None else (int(rows[0]), int(rows[1]))
    if rows is not None:
        if row0 % STRIP_ROWS or (row1 % STRIP_ROWS and row1 != plan.grid.height) or \
                not 0 <= row0 < row1 <= plan.grid.height:
            raise ValueError(f'rows must be multiples of {STRIP_ROWS} inside the grid '
                             f'(height {plan.grid.height}), got {rows}')
        tiles = [t for t in tiles if t.y0 < row1 and t.y0 + t.size > row0]
    bind(plan.modality_set, model)
    pipeline = ScenePipeline.from_model(model, plan.modality_set)

    model.eval()
    args = (model, plan, tile_size, overlap, out_path)
    options = dict(format=format, rows=(row0, row1), first_row=tiles[0].y0)
    if task == 'semantic':
        merger = SemanticMerger(*args, scores_path=scores_path, **options)
    else:
        merger = InstanceMerger(*args, score_thr=score_thr, geojson_path=geojson_path,
                                max_overlap=max_instance_overlap, **options)
    run, model_seconds = 0, 0.0
    with merger, tqdm(total=len(tiles), desc='scene tiles', unit='tile',
                      disable=not progress) as bar:
        tile_rows = _group_rows(tiles)
        for index, row in enumerate(tile_rows):
            for batch in _batches(row, batch_size):
                loaded = [pipeline.load(plan, t) for t in batch]
                valid = [np.isfinite(r['img']).any(axis=-1) for r in loaded]
                todo = [i for i, v in enumerate(valid) if v.any()]  # skip empty tiles
                if todo:
                    packed = [pipeline.pack(loaded[i]) for i in todo]
                    tic = time.perf_counter()
                    samples = predict_tiles(model, packed)
                    model_seconds += time.perf_counter() - tic
                    for i, sample in zip(todo, samples):
                        merger.add(batch[i], sample, valid[i])
                    run += len(todo)
                bar.update(len(batch))
            next_y = tile_rows[index + 1][0].y0 if index + 1 < len(tile_rows) else row1
            merger.flush(next_y)
    return SceneResult(
        path=merger.out.path, task=task, grid=plan.grid, reference_name=plan.reference_name,
        missing=plan.missing, num_tiles=len(tiles), num_tiles_run=run,
        seconds=time.perf_counter() - start_time, model_seconds=model_seconds,
        geojson_path=merger.geojson_path, scores_path=merger.scores_path,
        num_instances=merger.num_instances, peak_buffer_bytes=merger.buffer_bytes,
        ignored=plan.ignored)
