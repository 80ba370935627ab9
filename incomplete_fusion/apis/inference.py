"""Georeferenced scene inference: GeoTIFFs of any size in, a GeoTIFF prediction out.

``infer_scene`` plans the scene once from file headers (errors before any
compute, see :mod:`.scene`; or takes a plan made earlier), then walks the
reference grid tile by tile in row-major order (:mod:`.tiling`): each tile goes
through the config's own test pipeline (:mod:`.scene_pipeline`: the training
loader reads the tile's window, ``Pack*Inputs`` packs it), batches of tiles run
through ``model.test_step`` (read ahead by a thread pool and batched by
:mod:`.tile_stream`; :mod:`.scene_run` holds one scene's state), the predictions
are merged into a strip of accumulators and every finished strip of rows is
written (:mod:`.merging`).
Memory is bounded by one strip of the scene's width, never the whole scene.

Modules: :mod:`.model` (building), :mod:`.scene` (planning), :mod:`.tiling`,
:mod:`.scene_pipeline` (reading and packing), :mod:`.merging` + :mod:`.blending`
(merging), :mod:`.geotiff` (the one writer), this module (running).
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch

from .scene import PathLike, ScenePlan, plan_scene
from .scene_pipeline import model_modality_set
from .scene_run import SceneRun
from .tile_stream import run_stream

__all__ = ['infer_scene', 'SceneResult']


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
    read_wait_seconds: float = 0.0  # of ``seconds``, the model waiting for tiles
    geojson_path: Optional[str] = None
    scores_path: Optional[str] = None
    num_instances: int = 0
    peak_buffer_bytes: int = 0
    ignored: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def megapixels(self) -> float:
        return self.grid.height * self.grid.width / 1e6


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
                rows: Optional[Tuple[int, int]] = None,
                workers: int = 1,
                vector_format: str = 'geojson') -> SceneResult:
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
        batch_size: at most this many tiles per forward pass, all from one tile row
            (so the output does not depend on how the scene is run, see :mod:`.tile_stream`).
        score_thr: instance mode: minimum score of a kept instance.
        max_instance_overlap: instance mode: an instance whose mask is covered by
            more than this fraction by already kept (higher-score or
            earlier-tile) instances is dropped as a duplicate.
        geojson_path: instance mode: polygons output; default ``out_path`` with
            ``.geojson`` (``.gpkg`` for ``vector_format='gpkg'``).
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
        workers: threads reading tiles ahead of the model (0: read in this thread).
        vector_format: instance mode: ``'geojson'`` or ``'gpkg'`` (GeoPackage layer).

    Raises:
        SceneInputError / UnknownModalityError: bad inputs, before any compute.
    """
    plan = _scene_plan(model, inputs, modality_specs, active, reference, extent, resolution)
    run = SceneRun(model, plan, out_path, tile_size=tile_size, overlap=overlap,
                   score_thr=score_thr, max_instance_overlap=max_instance_overlap,
                   geojson_path=geojson_path, scores_path=scores_path, format=format, rows=rows,
                   vector_format=vector_format)
    errors = []
    run_stream(model, ((run, t) for t in run.tiles), batch_size, workers,
               on_close=lambda _, error: errors.append(error), progress=progress,
               total=len(run.tiles))
    if errors and errors[0] is not None:
        raise errors[0]
    return run.result()
