"""Georeferenced scene inference: GeoTIFFs of any size in, GeoTIFF predictions out.

:func:`infer_scene` predicts one scene, :func:`infer_scenes` many (resumable,
distributed over ranks, a VRT mosaic and ``report.json``); both run the one engine
of :mod:`.scene` (:func:`~.scene.engine.run_scenes`) with one frozen
:class:`~.scene.options.SceneOptions` and return :class:`~.scene.engine.SceneResult`\\ s.
A scene's rasters do not depend on which of the two ran it, alone or among
others, on how many ranks (unless ``mix_scenes``).
See docs/user_guides/3_inference.md.
"""
import os
from dataclasses import replace
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from ..modalities import ModalitySet
from .model import model_modality_set, model_task
from .scene.distributed import barrier, gather, get_dist_info
from .scene.engine import SceneJob, SceneResult, run_scenes
from .scene.jobs import merge_windows, rank_jobs, write_report
from .scene.options import SceneOptions
from .scene.plan import PathLike, ScenePlan
from .scene.vrt import write_vrt

__all__ = ['infer_scene', 'infer_scenes']


def infer_scene(model: torch.nn.Module,
                inputs: Union[ScenePlan, Mapping[str, Optional[PathLike]]],
                out_path: PathLike,
                scores_path: Optional[PathLike] = None,
                geojson_path: Optional[PathLike] = None,
                rows: Optional[Tuple[int, int]] = None,
                modality_set: Optional[ModalitySet] = None,
                active: Optional[Sequence[str]] = None,
                progress: bool = True,
                **options) -> SceneResult:
    """Predict a whole scene and write a georeferenced GeoTIFF.

    Args:
        model: from :func:`~.model.init_model` (an mmseg segmentor or mmdet detector
            whose ``cfg`` declares ``modality_specs`` and has a test pipeline with
            ``LoadMultimodalImages``).
        inputs: modality name → GeoTIFF path (``None`` or absent = missing), or a
            :class:`ScenePlan` from :func:`~.scene.plan.plan_scene` (then the plan's
            grid and modalities are used). Files may differ in resolution, extent and
            CRS; nodata is missing.
        out_path: output GeoTIFF (semantic: uint8 classes; instance: uint32 ids).
        scores_path: semantic mode, optional: also write the blended per-class
            scores (float32, one band per class; one probability band for a
            single-logit binary head; NaN where no input).
        geojson_path: instance mode: polygons output; default ``out_path`` with
            ``.geojson`` (``.gpkg`` for ``vector_format='gpkg'``).
        rows: semantic mode: only output rows ``[a, b)`` (multiples of 16, or ``b`` =
            the grid height), written as a raster of that window whose pixels equal
            those rows of the whole-scene output (one rank's share of a scene).
        modality_set, active: plan the files with this set (default: the model's) /
            these active names; bound to the model and the pipeline for this scene.
        progress: show a tqdm bar of tiles done.
        options: fields of :class:`~.scene.options.SceneOptions` (``tile_size``,
            ``overlap``, ``reference``, ``extent``, ``resolution``, ``batch_size``,
            ``workers``, ``format``, ``vector_format``, ``score_thr``, ...).

    Raises:
        SceneInputError / UnknownModalityError: bad inputs, before any compute; any
        error of reading, the model or writing (no output is left).
    """
    modality_set = modality_set or model_modality_set(model)
    if active is not None:
        modality_set = modality_set.with_active(active)
    name = os.path.splitext(os.path.basename(os.fspath(out_path)))[0]
    job = SceneJob(name, inputs, out_path, scores_path, geojson_path, rows)
    result, = run_scenes(model, [job], SceneOptions(**options), modality_set, progress,
                         raise_errors=True)
    return result


def infer_scenes(model: torch.nn.Module, scenes: Dict[str, Dict[str, Optional[str]]],
                 out_dir: str, *, resume: bool = True, scores: bool = False,
                 mosaic: Optional[str] = 'mosaic.vrt', split: str = 'auto',
                 progress: bool = False, **options) -> List[SceneResult]:
    """Predict every scene into ``out_dir/<scene>.tif`` (+ ``<scene>_scores.tif``).

    ``scenes``: name → {modality: path or None} (:func:`~.scene.jobs.read_manifest`,
    :func:`~.scene.jobs.scenes_from_pattern`). A scene whose output exists is
    skipped (``resume``); a failing scene is reported and the others go on.
    Under ``torch.distributed`` the pending scenes are dealt to the ranks
    (``split='scenes'``) or every scene is cut into row windows, one per rank
    (``'windows'``, semantic models); ``'auto'``: windows when there are fewer
    pending scenes than ranks. Rank 0 writes ``report.json`` and the ``mosaic`` and
    returns every scene's result (other ranks: their own).
    ``options``: fields of :class:`~.scene.options.SceneOptions`; ``mix_scenes=True``
    lets a batch span tile rows and scenes (default: one tile row of one scene, which
    makes the rasters byte-identical however scenes are run or split).
    """
    options = SceneOptions(**options)
    rank, world = get_dist_info()
    os.makedirs(out_dir, exist_ok=True)
    if split == 'auto':
        pending = [s for s in scenes
                   if not (resume and os.path.exists(os.path.join(out_dir, f'{s}.tif')))]
        split = 'windows' if world > 1 and len(pending) < world and \
            model_task(model) == 'semantic' else 'scenes'
    skipped, jobs = rank_jobs(scenes, out_dir, rank, world, split, resume, scores)
    run_options = replace(options, format='gtiff') if split == 'windows' else options
    mine = run_scenes(model, jobs, run_options, progress=progress)
    gathered = gather(mine)
    if rank == 0:
        if split == 'windows':
            finished = merge_windows(gathered, out_dir, scores, options.format)
        else:
            finished = [r for part in gathered for r in part]
        by_name = {r.scene: r for r in skipped + finished}
        results = [by_name[s] for s in scenes]
        done = [r.path for r in results if r.status in ('done', 'skipped')]
        if mosaic and done:
            _, left_out = write_vrt(done, os.path.join(out_dir, mosaic))
            for path in left_out:
                print(f'mosaic: {path} left out (another CRS or pixel size)')
        write_report(results, out_dir)
    if world > 1:
        barrier()
    return results if rank == 0 else mine
