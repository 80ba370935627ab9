"""Reading tiles: the one :class:`TileReader`, through the config's own pipeline.

Scene inference and reconstruction do not read or normalise pixels themselves:
every tile goes through the transforms the config tests with (``test_dataloader``'s
dataset pipeline, else ``test_pipeline``), minus the steps that load or filter
annotations. ``LoadMultimodalImages`` reads the tile (a window of a grid, see its
``target_grid``/``target_window`` keys), so nodata, resampling, GDAL settings and
normalisation are those of training and testing; the steps after it (resize,
``Pack*Inputs``) make the model input. Every read returns a :class:`Chip`.
See docs/user_guides/3_inference.md.
"""
import copy
import os
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from ...binding import bind
from ...datasets.transforms.loading import GRID_KEY, WINDOW_KEY, LoadMultimodalImages
from ...modalities import ModalitySet
from ..model import model_modality_set
from .plan import ScenePlan
from .tiles import Tile

__all__ = ['Chip', 'TileReader', 'ANNOTATION_STEPS', 'pipeline_cfg_of']

# Steps of a test pipeline that need annotations; a scene has none.
ANNOTATION_STEPS = frozenset({'LoadAnnotations', 'LoadLabelRaster', 'FilterAnnotations',
                              'LoadPanopticAnnotations'})


def step_type(step) -> str:
    """A transform's registered name without scope (``mmdet.LoadAnnotations`` → ...)."""
    kind = step.get('type') if isinstance(step, dict) else type(step)
    return kind.split('.')[-1] if isinstance(kind, str) else getattr(kind, '__name__', '')


def _dataset_pipeline(dataset) -> Optional[list]:
    while isinstance(dataset, dict):
        if dataset.get('pipeline'):
            return list(dataset['pipeline'])
        inner = dataset.get('dataset') or (dataset.get('datasets') or [None])[0]
        dataset = inner
    return None


def pipeline_cfg_of(cfg, stages: Sequence[str] = ('test', 'val')) -> List[dict]:
    """The transforms a config runs for ``stages`` (first found): the dataloader's
    dataset pipeline (through dataset wrappers), else the top-level ``<stage>_pipeline``."""
    for stage in stages:
        pipeline = _dataset_pipeline((cfg.get(f'{stage}_dataloader') or {}).get('dataset'))
        if pipeline is None:
            pipeline = cfg.get(f'{stage}_pipeline')
        if pipeline:
            return [copy.deepcopy(step) for step in pipeline]
    raise KeyError(f'the config has no {"/".join(stages)} pipeline (a dataloader dataset '
                   f'pipeline or a top-level `{stages[0]}_pipeline`)')


@dataclass
class Chip:
    """One tile as the loader read it.

    ``results`` are the loader's results (``img`` (H, W, C) float32, normalised,
    NaN = missing; ``crs``, ``transform``, ...), from which :meth:`TileReader.pack`
    goes on; ``given``: the active modalities whose file was read.
    """

    results: dict = field(repr=False)
    given: Tuple[str, ...] = ()

    @property
    def img(self) -> np.ndarray:
        """(C, H, W) view of the normalised pixels, NaN = missing."""
        return self.results['img'].transpose(2, 0, 1)

    @property
    def valid(self) -> np.ndarray:
        """(H, W): pixels where any channel has data."""
        return np.isfinite(self.results['img']).any(axis=-1)

    @property
    def crs(self) -> Any:
        return self.results.get('crs')

    @property
    def transform(self) -> Any:
        return self.results.get('transform')


class TileReader:
    """A config's test pipeline bound to a :class:`ModalitySet`, split at the loader.

    Args:
        modality_set: bound to every consumer of the pipeline.
        pipeline_cfg: transform configs (see :func:`pipeline_cfg_of`; annotation steps
            are dropped); must contain ``LoadMultimodalImages``. Default: that loader
            alone, with its default settings.
        scope: registry scope to build in (the config's ``default_scope``).
    """

    def __init__(self, modality_set: ModalitySet, pipeline_cfg: Optional[Sequence] = None,
                 scope: Optional[str] = None):
        if pipeline_cfg is None:
            pipeline_cfg = [dict(type='LoadMultimodalImages')]
        steps = [copy.deepcopy(s) for s in pipeline_cfg if step_type(s) not in ANNOTATION_STEPS]
        with DefaultScope.overwrite_default_scope(scope):
            transforms = Compose(steps).transforms
        loaders = [i for i, t in enumerate(transforms) if isinstance(t, LoadMultimodalImages)]
        if not loaders:
            raise ValueError('the test pipeline has no LoadMultimodalImages, which reads the '
                             f'scene tiles; it has {[step_type(t) for t in transforms]}')
        bind(modality_set, transforms)
        self.modality_set = modality_set
        self.loader = transforms[loaders[0]]
        self.head = Compose(transforms[:loaders[0] + 1])
        self.tail = Compose(transforms[loaders[0] + 1:])

    @classmethod
    def from_model(cls, model, modality_set: Optional[ModalitySet] = None) -> 'TileReader':
        """The test pipeline of ``model.cfg``, bound to ``modality_set`` (default: the
        model's): reads and packs model inputs."""
        cfg = model.cfg
        return cls(modality_set or model_modality_set(model), pipeline_cfg_of(cfg),
                   cfg.get('default_scope', None))

    @classmethod
    def loader_of(cls, model) -> 'TileReader':
        """Only the ``LoadMultimodalImages`` of ``model.cfg`` (from its test, val or train
        pipeline, in this order), bound to the model's set; e.g. for a pretraining
        config whose pipeline augments."""
        cfg = model.cfg
        steps = pipeline_cfg_of(cfg, ('test', 'val', 'train'))
        loader = [s for s in steps if step_type(s) == LoadMultimodalImages.__name__]
        return cls(model_modality_set(model), loader or steps, cfg.get('default_scope', None))

    def read(self, paths: Mapping[str, Optional[str]], grid=None, window=None,
             **keys) -> Chip:
        """The tile of modality ``paths`` (``None``/absent = missing): on the reference
        modality's grid (as for training), or on ``grid`` / a ``window`` of it.

        Raises:
            ValueError: a name the modality set does not declare.
            FileNotFoundError: a given path that does not exist.
        """
        mset = self.modality_set
        unknown = [n for n in paths if n not in mset.names]
        if unknown:
            raise ValueError(f'unknown modality name(s) {unknown}; declared: {list(mset.names)}')
        missing_files = [p for p in paths.values() if p and not os.path.exists(p)]
        if missing_files:
            raise FileNotFoundError(f'input file(s) not found: {missing_files}')
        paths = {n: p for n, p in paths.items() if p}
        results = dict(keys, modality_paths=paths)
        if grid is not None:
            results[GRID_KEY] = grid
        if window is not None:
            results[WINDOW_KEY] = window
        results = self._run(self.head, results)
        absent = set(results.get('missing_modalities', ()))
        return Chip(results, tuple(n for n in mset.active if n in paths and n not in absent))

    def read_tile(self, plan: ScenePlan, tile: Tile) -> Chip:
        """One tile of a planned scene: ``tile``'s window of the plan's grid (other
        resolutions/CRSs resampled, nearest for categorical); missing modalities and
        pixels outside the grid are NaN; per-tile statistics are this tile's."""
        return self.read(plan.paths, plan.grid, tile.window(), img_id=f'tile_{tile.row}_{tile.col}')

    def pack(self, chip: Chip) -> dict:
        """The rest of the pipeline (resize, ``Pack*Inputs``): ``inputs`` + ``data_samples``."""
        return self._run(self.tail, chip.results)

    def pack_array(self, img: np.ndarray) -> dict:
        """Pack a normalised (C, H, W) array (NaN = missing) as if the loader had read it."""
        img = np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(1, 2, 0))
        mset = self.modality_set
        results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                       modality_names=mset.names, inactive_modalities=mset.inactive,
                       categorical_channels=mset.categorical_channels)
        return self._run(self.tail, results)

    @staticmethod
    def _run(compose: Compose, results: dict) -> dict:
        out = compose(results)
        if out is None:
            raise RuntimeError(f'a transform of {compose} dropped the scene tile')
        return out
