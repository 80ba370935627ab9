"""The jobs of a many-scene run: scenes from a manifest or a folder pattern, this
rank's share of them, the windows merged back, and ``report.json``.

Manifest: CSV (a ``scene`` column, one column per modality; an empty cell = a
missing modality), JSON or YAML (a list of ``{"scene": name, modality: path}``
objects, or ``{name: {modality: path}}``); relative paths are relative to the
manifest. Pattern: ``"data/{scene}/{modality}.tif"``. A scene whose output exists
is skipped (outputs appear only when complete, so a run resumes where it stopped);
with ``split='windows'`` only rank 0 reads the files for the value check, the
other ranks plan from the headers. See docs/user_guides/3_inference.md.
"""
import csv
import glob
import json
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from .distributed import assemble_windows, row_windows
from .engine import SceneJob, SceneResult

__all__ = ['read_manifest', 'scenes_from_pattern', 'rank_jobs', 'merge_windows',
           'write_report']

NAME_KEYS = ('scene', 'name', 'id')
Scenes = Dict[str, Dict[str, Optional[str]]]


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


def scenes_from_pattern(pattern: str, names: Sequence[str]) -> Scenes:
    """Scenes of a pattern with ``{scene}`` and ``{modality}`` (e.g.
    ``data/{scene}/{modality}.tif``): every scene with a file of at least one of the
    modality ``names``."""
    if '{scene}' not in pattern or '{modality}' not in pattern:
        raise ValueError(f'pattern needs {{scene}} and {{modality}}, got {pattern!r}')
    scenes: Dict[str, Dict[str, Optional[str]]] = {}
    for name in names:
        template = pattern.replace('{modality}', name)
        regex = re.compile(re.escape(template).replace(re.escape('{scene}'), '(?P<scene>.+)') + '$')
        for path in sorted(glob.glob(template.replace('{scene}', '*'))):
            match = regex.match(path)
            if match:
                scenes.setdefault(match['scene'], {})[name] = path
    return {s: {m: scenes[s].get(m) for m in names} for s in sorted(scenes)}


def rank_jobs(scenes: Scenes, out_dir: str, rank: int, world: int, split: str,
              resume: bool = True, scores: bool = False
              ) -> Tuple[List[SceneResult], List[SceneJob]]:
    """The scenes skipped (``out_dir/<scene>.tif`` exists and ``resume``) and this
    rank's jobs: with ``split='scenes'`` pending scene ``i`` goes to rank ``i % world``;
    with ``'windows'`` every rank gets every scene, its window of rows written under
    ``out_dir/.parts`` (and only rank 0 reads the files for the value check)."""
    if split not in ('scenes', 'windows'):
        raise ValueError(f"split must be 'scenes' or 'windows', got {split!r}")
    skipped, jobs = [], []
    for name, inputs in scenes.items():
        out = os.path.join(out_dir, f'{name}.tif')
        if resume and os.path.exists(out):
            skipped.append(SceneResult(name, 'skipped', path=out, inputs=dict(inputs)))
    done = {r.scene for r in skipped}
    pending = [s for s in scenes if s not in done]
    for i, name in enumerate(pending):
        if split == 'scenes':
            if i % world == rank:
                out = os.path.join(out_dir, f'{name}.tif')
                jobs.append(SceneJob(name, scenes[name], out, os.path.join(
                    out_dir, f'{name}_scores.tif') if scores else None))
            continue
        part = os.path.join(out_dir, '.parts', f'{name}.rank{rank}.tif')
        jobs.append(SceneJob(name, scenes[name], part, part[:-4] + '_scores.tif' if scores
                             else None, rows=lambda height: row_windows(height, world)[rank],
                             check_values=rank == 0))
    return skipped, jobs


def _remove(*paths: str) -> None:
    for path in paths:
        for stale in (path, path + '.aux.xml'):
            if os.path.exists(stale):
                os.remove(stale)


def merge_windows(gathered: Sequence[Sequence[SceneResult]], out_dir: str, scores: bool,
                  format: str) -> List[SceneResult]:
    """One result per scene from every rank's window results (same scene order on every
    rank): the windows streamed into ``out_dir/<scene>.tif`` (+ scores); a scene failed
    on any rank is failed, and the windows of the other ranks are removed."""
    merged = []
    for parts in zip(*gathered):
        name = parts[0].scene
        failed = [p for p in parts if p.status == 'failed']
        if failed:
            merged.append(failed[0])
            for part in parts:  # the windows of the ranks that succeeded are useless
                if part.status == 'done':
                    _remove(part.path, part.path[:-4] + '_scores.tif')
            continue
        done = [p for p in parts if p.status == 'done']
        height = done[0].window[2]
        windows = [(p.path, p.window[0]) for p in done]
        result = done[0]
        result.path = assemble_windows(windows, os.path.join(out_dir, f'{name}.tif'), height,
                                       format)
        if scores:
            result.scores_path = assemble_windows(
                [(w[:-4] + '_scores.tif', r) for w, r in windows],
                os.path.join(out_dir, f'{name}_scores.tif'), height, format)
        result.num_tiles = sum(p.num_tiles for p in done)
        result.num_tiles_run = sum(p.num_tiles_run for p in done)
        result.seconds = max(p.seconds for p in done)
        result.window = None
        merged.append(result)
    return merged


def write_report(results: Sequence[SceneResult], out_dir: str) -> str:
    """``out_dir/report.json``: per scene its status, missing and ignored modalities,
    error, tiles, seconds, inputs (and window)."""
    path = os.path.join(out_dir, 'report.json')
    with open(path, 'w') as f:
        json.dump([r.report() for r in results], f, indent=1)
    return path
