"""Many scenes in one run: a manifest or a folder pattern in, a raster per scene and
one VRT mosaic out; resumable, distributed over ranks (:mod:`.distributed`).

Manifest: CSV (a ``scene`` column, one column per modality; an empty cell = a
missing modality), JSON or YAML (a list of ``{"scene": name, modality: path}``
objects, or ``{name: {modality: path}}``). Relative paths are relative to the
manifest. Pattern: ``"data/{scene}/{modality}.tif"`` (any subset of the
modality files may exist per scene).

Each scene is planned once (:func:`~.scene.plan_scene`) by the rank that runs
it; with ``split='windows'`` every rank plans it from the file headers (a few
ms) and only rank 0 also reads the files for the value check (seconds for a
large scene without overviews). A scene whose inputs are rejected (missing file,
corrupt/not a raster, ...) or whose inference fails is reported and the others
go on. A scene whose output
exists is skipped (outputs appear only when complete, so an interrupted run
resumes where it stopped). ``report.json`` lists per scene its status, the
missing and ignored modalities and the error.
"""
import csv
import glob
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .distributed import assemble_windows, barrier, get_dist_info, row_windows
from .model import model_task
from .mosaic import write_vrt
from .scene import plan_scene
from .scene_pipeline import model_modality_set
from .scene_run import SceneRun
from .tile_stream import run_stream

__all__ = ['read_manifest', 'scenes_from_pattern', 'infer_scenes', 'SceneStatus', 'write_vrt']

NAME_KEYS = ('scene', 'name', 'id')


@dataclass
class SceneStatus:
    """The outcome of one scene: ``done``, ``skipped`` (output existed) or ``failed``."""

    scene: str
    status: str
    path: Optional[str] = None
    missing: Tuple[str, ...] = ()
    ignored: Tuple[str, ...] = ()
    error: Optional[str] = None
    num_tiles: int = 0
    seconds: float = 0.0
    inputs: Dict[str, Optional[str]] = field(default_factory=dict)
    window: Optional[Tuple[int, int, int]] = None  # rows [a, b) of height (one rank's share)


def _scene_rows(rows, root: str) -> Dict[str, Dict[str, Optional[str]]]:
    scenes = {}
    for i, row in enumerate(rows):
        row = dict(row)
        key = next((k for k in NAME_KEYS if k in row), None)
        name = str(row.pop(key)) if key else f'scene_{i:04d}'
        if name in scenes:
            raise ValueError(f'scene {name!r} listed twice in the manifest')
        scenes[name] = {m: (os.path.join(root, str(p)) if p not in (None, '') else None)
                        for m, p in row.items()}
    return scenes


def read_manifest(path: str) -> Dict[str, Dict[str, Optional[str]]]:
    """Scene name → {modality: path or None} from a CSV, JSON or YAML manifest."""
    root = os.path.dirname(os.path.abspath(path))
    ext = os.path.splitext(path)[1].lower()
    with open(path, newline='') as f:
        if ext == '.csv':
            return _scene_rows(csv.DictReader(f), root)
        if ext in ('.yaml', '.yml'):
            import yaml
            data = yaml.safe_load(f)
        elif ext == '.json':
            data = json.load(f)
        else:
            raise ValueError(f'manifest must be .csv, .json or .yaml, got {path}')
    if isinstance(data, dict) and 'scenes' in data:
        data = data['scenes']
    if isinstance(data, dict):
        data = [dict(v, scene=k) for k, v in data.items()]
    return _scene_rows(data, root)


def scenes_from_pattern(pattern: str,
                        modalities: Sequence[str]) -> Dict[str, Dict[str, Optional[str]]]:
    """Scenes of a pattern with ``{scene}`` and ``{modality}`` (e.g.
    ``data/{scene}/{modality}.tif``): every scene with at least one modality file."""
    if '{scene}' not in pattern or '{modality}' not in pattern:
        raise ValueError(f'pattern needs {{scene}} and {{modality}}, got {pattern!r}')
    scenes: Dict[str, Dict[str, Optional[str]]] = {}
    for name in modalities:
        template = pattern.replace('{modality}', name)
        regex = re.compile(re.escape(template).replace(re.escape('{scene}'), '(?P<scene>.+)') + '$')
        for path in sorted(glob.glob(template.replace('{scene}', '*'))):
            match = regex.match(path)
            if match:
                scenes.setdefault(match['scene'], {})[name] = path
    return {s: {m: scenes[s].get(m) for m in modalities} for s in sorted(scenes)}


class _Item:
    """One scene of this rank: where its outputs go, and its row window (if split)."""

    def __init__(self, name, inputs, out, scores, window_of=None, check_values=True):
        self.name, self.inputs, self.out, self.scores = name, inputs, out, scores
        self.window_of, self.check_values = window_of, check_values


def _predict(model, items: Sequence[_Item], plan_options: dict, run_options: dict,
             batch_size: int, workers: int, mix_scenes: bool) -> Dict[str, SceneStatus]:
    """Plan and predict ``items`` in one tile stream (batches mix scenes if ``mix_scenes``)."""
    statuses, started = {}, {}

    def runs():
        for item in items:
            started[item.name] = time.perf_counter()
            status = statuses[item.name] = SceneStatus(item.name, 'failed',
                                                       inputs=dict(item.inputs))
            try:
                plan = plan_scene(item.inputs, model_modality_set(model),
                                  check_values=item.check_values, **plan_options)
                status.missing, status.ignored = plan.missing, plan.ignored
                rows = None
                if item.window_of is not None:
                    rows = item.window_of(plan.grid.height)
                    status.window = (rows[0], rows[1], plan.grid.height)
                    if rows[0] == rows[1]:
                        status.status = 'empty'
                        continue
                run = SceneRun(model, plan, item.out, rows=rows, scores_path=item.scores,
                               name=item.name, **run_options)
            except Exception as exc:  # noqa: BLE001 - one bad scene must not stop the others
                status.error = f'{type(exc).__name__}: {exc}'
                continue
            for tile in run.tiles:
                yield run, tile

    def on_close(run: SceneRun, error) -> None:
        status = statuses[run.name]
        if error is not None:
            status.error = f'{type(error).__name__}: {error}'
            return
        result = run.result()
        status.status, status.path, status.num_tiles = 'done', result.path, result.num_tiles
        status.seconds = time.perf_counter() - started[run.name]

    run_stream(model, runs(), batch_size, workers, on_close=on_close, mix_scenes=mix_scenes)
    return statuses


def infer_scenes(model, scenes: Dict[str, Dict[str, Optional[str]]], out_dir: str, *,
                 resume: bool = True, scores: bool = False, mosaic: Optional[str] = 'mosaic.vrt',
                 split: str = 'auto', reference=None, extent: str = 'union', resolution=None,
                 batch_size: int = 4, workers: int = 1, mix_scenes: bool = False,
                 **infer_options) -> List[SceneStatus]:
    """Predict every scene into ``out_dir/<scene>.tif`` (+ ``<scene>_scores.tif``).

    Under ``torch.distributed`` the pending scenes are dealt to the ranks
    (``split='scenes'``) or every scene is cut into row windows, one per rank
    (``'windows'``, semantic models); ``'auto'``: windows when there are fewer
    pending scenes than ranks. Rank 0 writes ``report.json`` and the mosaic and
    returns every scene's status (other ranks: their own).
    ``mix_scenes``: a batch may span tile rows and scenes (default: one tile row of one
    scene, which makes the rasters byte-identical however scenes are run or split; see
    :mod:`.tile_stream`).
    ``workers``: reader threads (they read ahead across scenes either way).
    ``infer_options``: of :func:`~.inference.infer_scene` (``tile_size``, ``format``,
    ``vector_format``...).
    """
    rank, world = get_dist_info()
    os.makedirs(out_dir, exist_ok=True)
    plan_options = dict(reference=reference, extent=extent, resolution=resolution)
    outputs = {s: os.path.join(out_dir, f'{s}.tif') for s in scenes}
    statuses = {s: SceneStatus(s, 'skipped', path=p, inputs=scenes[s])
                for s, p in outputs.items() if resume and os.path.exists(p)}
    pending = [s for s in scenes if s not in statuses]
    if split == 'auto':
        split = 'windows' if world > 1 and len(pending) < world and \
            model_task(model) == 'semantic' else 'scenes'
    infer_options.pop('progress', None)
    window_of = (lambda height: row_windows(height, world)[rank]) if split == 'windows' else None
    items = []
    for i, name in enumerate(pending):
        if split == 'scenes':
            if i % world == rank:
                score_path = os.path.join(out_dir, f'{name}_scores.tif') if scores else None
                items.append(_Item(name, scenes[name], outputs[name], score_path))
            continue
        part = os.path.join(out_dir, '.parts', f'{name}.rank{rank}.tif')
        # the grid needs headers only: rank 0 alone reads the files for the value check
        items.append(_Item(name, scenes[name], part, part[:-4] + '_scores.tif' if scores
                           else None, window_of, check_values=rank == 0))
    run_options = dict(infer_options, format='gtiff') if split == 'windows' else infer_options
    mine = _predict(model, items, plan_options, run_options, batch_size, workers, mix_scenes)
    if world > 1:
        gathered = [None] * world
        import torch.distributed as torch_dist
        torch_dist.all_gather_object(gathered, mine)
    else:
        gathered = [mine]
    if rank == 0:
        merged = _merge(gathered, split, outputs, out_dir, scores, infer_options)
        statuses.update(merged)
        statuses = {s: statuses[s] for s in scenes}
        done = [st.path for st in statuses.values() if st.status in ('done', 'skipped')]
        if mosaic and done:
            _, left_out = write_vrt(done, os.path.join(out_dir, mosaic))
            for path in left_out:
                print(f'mosaic: {path} left out (another CRS or pixel size)')
        with open(os.path.join(out_dir, 'report.json'), 'w') as f:
            json.dump([asdict(s) for s in statuses.values()], f, indent=1)
    if world > 1:
        barrier()
    return list(statuses.values()) if rank == 0 else list(mine.values())


def _merge(gathered, split, outputs, out_dir, scores, infer_options) -> Dict[str, SceneStatus]:
    if split == 'scenes':
        return {n: s for part in gathered for n, s in part.items()}
    merged = {}
    for name in gathered[0]:
        parts = [g[name] for g in gathered]
        failed = [p for p in parts if p.status == 'failed']
        if failed:
            merged[name] = failed[0]
            for part in parts:  # the windows of the ranks that succeeded are useless
                for path in ([part.path, part.path[:-4] + '_scores.tif']
                             if part.status == 'done' else []):
                    for stale in (path, path + '.aux.xml'):
                        if os.path.exists(stale):
                            os.remove(stale)
            continue
        done = [p for p in parts if p.status == 'done']
        height = done[0].window[2]
        fmt = infer_options.get('format', 'cog')
        windows = [(p.path, p.window[0]) for p in done]
        status = done[0]
        status.path = assemble_windows(windows, outputs[name], height, fmt)
        if scores:
            assemble_windows([(w[:-4] + '_scores.tif', r) for w, r in windows],
                             os.path.join(out_dir, f'{name}_scores.tif'), height, fmt)
        status.num_tiles = sum(p.num_tiles for p in done)
        status.seconds = max(p.seconds for p in done)
        status.window = None
        merged[name] = status
    return merged
