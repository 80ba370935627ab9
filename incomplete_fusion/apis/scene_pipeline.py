"""Model inputs of scene tiles, through the config's own test pipeline.

Scene inference does not read or normalise pixels itself: every tile goes
through the transforms the config tests with (``test_dataloader``'s dataset
pipeline, else ``test_pipeline``), minus the steps that load or filter
annotations (a scene has none). ``LoadMultimodalImages`` reads the tile's window
of the scene's reference grid (its ``target_grid``/``target_window`` keys), so
nodata, resampling, GDAL settings and normalisation are those of training and
testing; the steps after it (resize, ``Pack*Inputs``) make the model input, so a
pipeline change reaches inference without touching this module.
"""
import copy
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from ..binding import bind, iter_consumers, modality_set_of
from ..datasets.transforms.loading import GRID_KEY, WINDOW_KEY, LoadMultimodalImages
from ..modalities import ModalitySet
from .scene import ScenePlan
from .tiling import Tile

__all__ = ['ScenePipeline', 'ANNOTATION_STEPS', 'pipeline_cfg_of', 'read_tile',
           'predict_tiles', 'model_modality_set']

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


def model_modality_set(model) -> ModalitySet:
    """The set bound to ``model``'s consumers, else the one of ``model.cfg``."""
    for consumer in iter_consumers(model):
        if consumer.is_bound:
            return consumer.modality_set
    return modality_set_of(model.cfg)


class ScenePipeline:
    """The config's test pipeline, bound to a :class:`ModalitySet`, split at the loader.

    Args:
        pipeline_cfg: transform configs (see :func:`pipeline_cfg_of`); annotation
            steps are dropped. Must contain ``LoadMultimodalImages``.
        modality_set: bound to every consumer of the pipeline.
        scope: registry scope to build in (the config's ``default_scope``).
    """

    def __init__(self, pipeline_cfg: Sequence, modality_set: ModalitySet,
                 scope: Optional[str] = None):
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
    def from_model(cls, model, modality_set: Optional[ModalitySet] = None) -> 'ScenePipeline':
        """The pipeline of ``model.cfg``, bound to ``modality_set`` (default: the model's)."""
        cfg = model.cfg
        return cls(pipeline_cfg_of(cfg), modality_set or model_modality_set(model),
                   cfg.get('default_scope', None))

    @classmethod
    def loader_of(cls, cfg, modality_set: ModalitySet) -> 'ScenePipeline':
        """Only the config's ``LoadMultimodalImages`` (from its test, val or train
        pipeline, in this order), e.g. for a pretraining config whose pipeline augments."""
        steps = pipeline_cfg_of(cfg, ('test', 'val', 'train'))
        loader = [s for s in steps if step_type(s) == LoadMultimodalImages.__name__]
        return cls(loader or steps, modality_set, cfg.get('default_scope', None))

    def read(self, paths, grid=None, window=None, **keys) -> dict:
        """The loader's results for modality ``paths``: on the reference modality's grid
        (as for training), or on ``grid`` / a ``window`` of it (see the loader)."""
        results = dict(keys, modality_paths=dict(paths))
        if grid is not None:
            results[GRID_KEY] = grid
        if window is not None:
            results[WINDOW_KEY] = window
        return self._run(self.head, results)

    def load(self, plan: ScenePlan, tile: Tile) -> dict:
        """The loader's results for one tile: ``img`` (size, size, C), NaN = missing."""
        return self.read(plan.paths, plan.grid, tile.window(),
                         img_id=f'tile_{tile.row}_{tile.col}')

    def pack(self, results: dict) -> dict:
        """The rest of the pipeline (resize, ``Pack*Inputs``): ``inputs`` + ``data_samples``."""
        return self._run(self.tail, results)

    def pack_array(self, img: np.ndarray) -> dict:
        """Pack a normalised (C, H, W) array (NaN = missing) as if the loader had read it."""
        img = np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(1, 2, 0))
        mset = self.modality_set
        results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                       modality_names=mset.names, inactive_modalities=mset.inactive,
                       categorical_channels=mset.categorical_channels)
        return self.pack(results)

    @staticmethod
    def _run(compose: Compose, results: dict) -> dict:
        out = compose(results)
        if out is None:
            raise RuntimeError(f'a transform of {compose} dropped the scene tile')
        return out


def read_tile(plan: ScenePlan, tile: Tile, pipeline: Optional[ScenePipeline] = None
              ) -> np.ndarray:
    """The normalised model input of one tile: float32 (C, size, size), NaN = missing.

    Read by ``pipeline``'s loader (default: ``LoadMultimodalImages()`` bound to the
    plan's modalities): each present modality is read onto the tile's window of the
    reference grid (other resolutions/CRSs resampled, nearest for categorical) and
    normalised with its spec; missing modalities and pixels outside the reference
    grid are NaN. Per-tile statistics (``zscore='tile'``) are those of this tile.
    """
    if pipeline is None:
        pipeline = ScenePipeline([dict(type='LoadMultimodalImages')], plan.modality_set)
    return np.ascontiguousarray(pipeline.load(plan, tile)['img'].transpose(2, 0, 1))


@torch.no_grad()
def predict_tiles(model: torch.nn.Module, tiles, pipeline: Optional[ScenePipeline] = None
                  ) -> list:
    """Run the model on a batch of tiles through ``model.test_step``, as ``tools/test.py`` does.

    ``tiles``: packed samples (:meth:`ScenePipeline.pack`) or normalised (C, H, W)
    arrays / a (B, C, H, W) array (NaN = missing), packed by ``pipeline`` (default:
    the model config's, :meth:`ScenePipeline.from_model`). Returns the model's data
    samples: ``seg_logits``/``pred_sem_seg`` (mmseg), ``pred_instances`` (mmdet).
    """
    packed = [t for t in tiles if isinstance(t, dict)]
    if len(packed) != len(tiles):
        pipeline = pipeline or ScenePipeline.from_model(model)
        packed = [t if isinstance(t, dict) else pipeline.pack_array(t) for t in tiles]
    return model.test_step(pseudo_collate(packed))
