"""Georeferenced scene inference: GeoTIFFs of any size in, a GeoTIFF prediction out.

``infer_scene`` plans the scene from file headers (errors before any compute,
see :mod:`.scene`), then walks the reference grid tile by tile in row-major
order: read and normalise the tile (NaN = missing), run the model on a batch of
tiles, merge into a strip of accumulators (:mod:`.blending`) and write every
finished strip of rows to the output GeoTIFF. Memory is bounded by one strip of
the scene's width, never the whole scene:

* semantic (mmseg model): ``(num_classes + 1) × (tile_size + 16) × width``
  float32 accumulators of per-class scores weighted by a window that tapers
  smoothly in the overlaps; argmax when a row is final; uint8 class raster,
  255 where no input has data;
* instance (mmdet model): a ``(tile_size + 16) × width`` uint32 id strip; an
  instance is kept by the tile whose core (tiles' cores partition the scene,
  cut half-way through the overlaps) contains its mask centroid, painted where
  no higher-priority instance already is (dropped as a duplicate when more
  than ``max_instance_overlap`` of it is taken), and its painted pixels are
  polygonised at once into the GeoJSON (map coordinates of the reference CRS).
  Id raster: 0 background, 1..N instances, 2**32-1 where no input has data.
"""
import copy
import json
import os
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import rasterio
import rasterio.features
import torch
from mmengine.config import Config
from rasterio.windows import Window
from tqdm import tqdm

from ..utils.config import apply_modalities, load_config
from .blending import RowBuffer, tile_weight
from .scene import PathLike, ScenePlan, Tile, plan_scene, plan_tiles, read_tile

__all__ = [
    'init_model', 'infer_scene', 'model_task', 'predict_tiles', 'default_tile_size',
    'SceneResult', 'SEMANTIC_NODATA', 'INSTANCE_NODATA'
]

SEMANTIC_NODATA = 255
INSTANCE_NODATA = np.iinfo(np.uint32).max
FLUSH_ROWS = 16  # GeoTIFF strip height; rows are written in multiples of it
SIZE_DIVISOR = 32  # Mask2Former's coarsest stride


def init_model(config: Union[str, os.PathLike, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a model from a config (+ ``--cfg-options``) and load a checkpoint.

    The config goes through :func:`~incomplete_fusion.utils.config.load_config`
    (the same as ``tools/train.py``/``tools/test.py``, so ``modalities=[...]``
    overrides take effect), then mmdet's ``init_detector`` or mmseg's
    ``init_model`` builds it, depending on the config's ``default_scope``.
    The returned model is in eval mode on ``device`` and keeps the config as
    ``model.cfg``.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if 'modality_specs' in cfg:
            apply_modalities(cfg)
    else:
        cfg = load_config(os.fspath(config), cfg_options)
    scope = cfg.get('default_scope', None)
    if scope == 'mmdet':
        from mmdet.apis import init_detector
        model = init_detector(cfg, checkpoint, device=device)
    elif scope == 'mmseg':
        from mmseg.apis import init_model as init_segmentor
        model = init_segmentor(cfg, checkpoint, device=device)
    else:
        raise ValueError(f"config default_scope must be 'mmdet' or 'mmseg', got {scope!r}")
    if checkpoint is None:
        # no checkpoint meta: take the class names from the config's dataset class
        # (mmdet would otherwise fall back to the 80 COCO classes)
        meta = _dataset_metainfo(cfg)
        if meta:
            model.dataset_meta = meta
    model.cfg = cfg
    return model.eval()


def _dataset_metainfo(cfg: Config) -> Optional[dict]:
    from mmengine.registry import DATASETS
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    try:
        dataset_cls = DATASETS.get(dataset.get('type'))
    except Exception:  # noqa: BLE001 - a best-effort label lookup
        return None
    meta = getattr(dataset_cls, 'METAINFO', None)
    return dict(meta) if meta else None


def model_task(model: torch.nn.Module) -> str:
    """``'semantic'`` for an mmseg segmentor, ``'instance'`` for an mmdet detector."""
    try:
        from mmseg.models.segmentors import BaseSegmentor
        if isinstance(model, BaseSegmentor):
            return 'semantic'
    except ImportError:  # pragma: no cover - mmseg is a dependency
        pass
    try:
        from mmdet.models.detectors import BaseDetector
        if isinstance(model, BaseDetector):
            return 'instance'
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f'{type(model).__name__} is neither an mmseg segmentor nor an mmdet detector')


def default_tile_size(cfg: Optional[Config]) -> int:
    """The backbone's training ``img_size`` (the size the model has seen), else 256."""
    size = None
    if cfg is not None:
        size = cfg.get('model', {}).get('backbone', {}).get('img_size', None)
    if size is None:
        return 256
    return int(size if np.isscalar(size) else size[0])


def _pack(tiles: np.ndarray, task: str) -> dict:
    size = tuple(tiles.shape[-2:])
    meta = dict(img_shape=size, ori_shape=size, pad_shape=size, scale_factor=(1.0, 1.0),
                flip=False)
    if task == 'semantic':
        from mmseg.structures import SegDataSample
        samples = [SegDataSample(metainfo=dict(meta)) for _ in tiles]
    else:
        from mmdet.structures import DetDataSample
        samples = [DetDataSample(metainfo=dict(meta)) for _ in tiles]
    return dict(inputs=[torch.from_numpy(np.ascontiguousarray(t)) for t in tiles],
                data_samples=samples)


@torch.no_grad()
def predict_tiles(model: torch.nn.Module, tiles: np.ndarray, task: Optional[str] = None) -> list:
    """Run the model on a batch of normalised tiles ``(B, C, H, W)`` (NaN = missing).

    Goes through ``model.test_step`` (data preprocessor + predict), exactly as
    ``tools/test.py`` does. Returns the model's data samples: ``seg_logits`` /
    ``pred_sem_seg`` for semantic models, ``pred_instances`` for detectors.
    """
    task = task or model_task(model)
    return model.test_step(_pack(np.asarray(tiles, dtype=np.float32), task))


def _semantic_scores(model, samples) -> np.ndarray:
    """(B, K, H, W) scores whose per-pixel argmax is mmseg's prediction."""
    logits = torch.stack([s.seg_logits.data for s in samples]).float().cpu().numpy()
    if logits.shape[1] == 1:  # binary head: sigmoid > threshold, as mmseg decides
        threshold = float(getattr(getattr(model, 'decode_head', None), 'threshold', 0.5) or 0.5)
        prob = 1.0 / (1.0 + np.exp(-logits))
        logits = np.concatenate([np.full_like(prob, threshold), prob], axis=1)
    return logits


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


def _geojson_crs(crs) -> Optional[dict]:
    epsg = crs.to_epsg() if crs is not None else None
    name = f'urn:ogc:def:crs:EPSG::{epsg}' if epsg else crs.to_wkt()
    return dict(type='name', properties=dict(name=name))


def infer_scene(model: torch.nn.Module,
                inputs: Mapping[str, Optional[PathLike]],
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
                progress: bool = True) -> SceneResult:
    """Predict a whole scene and write a georeferenced GeoTIFF.

    Args:
        model: from :func:`init_model` (an mmseg segmentor or mmdet detector
            whose ``cfg`` declares ``modality_specs``).
        inputs: modality name → GeoTIFF path (``None`` or absent = missing).
            Files may differ in resolution, extent and CRS; nodata is missing.
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
        modality_specs, active: override ``model.cfg.modality_specs`` /
            ``model.cfg.modalities``.
        progress: show a tqdm bar of tiles done.

    Raises:
        SceneInputError / UnknownModalityError: bad inputs, before any compute.
    """
    start_time = time.perf_counter()
    cfg = getattr(model, 'cfg', None)
    if modality_specs is None:
        if cfg is None or 'modality_specs' not in cfg:
            raise ValueError('the model has no cfg.modality_specs; pass modality_specs=')
        modality_specs = cfg.modality_specs
    if active is None and cfg is not None:
        active = cfg.get('modalities', None)
    task = model_task(model)
    plan = plan_scene(inputs, modality_specs, active, reference, extent, resolution)
    tile_size = int(tile_size or default_tile_size(cfg))
    if tile_size % SIZE_DIVISOR:
        raise ValueError(f'tile_size must be a multiple of {SIZE_DIVISOR}, got {tile_size}')
    overlap = tile_size // 4 if overlap is None else int(overlap)
    tiles = plan_tiles(plan.grid.height, plan.grid.width, tile_size, overlap)
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    os.makedirs(os.path.dirname(os.path.abspath(out_path)) or '.', exist_ok=True)

    model.eval()
    args = (model, plan, tile_size, overlap, out_path)
    if task == 'semantic':
        merger = _SemanticMerger(*args, scores_path=scores_path)
    else:
        merger = _InstanceMerger(*args, score_thr=score_thr, geojson_path=geojson_path,
                                 max_overlap=max_instance_overlap)
    run, model_seconds = 0, 0.0
    with merger, tqdm(total=len(tiles), desc='scene tiles', unit='tile',
                      disable=not progress) as bar:
        rows = _group_rows(tiles)
        for index, row in enumerate(rows):
            for batch in _batches(row, batch_size):
                arrays = [read_tile(plan, t) for t in batch]
                valid = [np.isfinite(a).any(axis=0) for a in arrays]
                todo = [i for i, v in enumerate(valid) if v.any()]  # skip empty tiles
                if todo:
                    tic = time.perf_counter()
                    samples = predict_tiles(model, np.stack([arrays[i] for i in todo]), task)
                    model_seconds += time.perf_counter() - tic
                    for i, sample in zip(todo, samples):
                        merger.add(batch[i], sample, valid[i])
                    run += len(todo)
                bar.update(len(batch))
            next_y = rows[index + 1][0].y0 if index + 1 < len(rows) else plan.grid.height
            merger.flush(next_y)
    return SceneResult(
        path=os.fspath(out_path), task=task, grid=plan.grid, reference_name=plan.reference_name,
        missing=plan.missing, num_tiles=len(tiles), num_tiles_run=run,
        seconds=time.perf_counter() - start_time, model_seconds=model_seconds,
        geojson_path=merger.geojson_path,
        scores_path=merger.scores_path,
        num_instances=merger.num_instances, peak_buffer_bytes=merger.buffer_bytes,
        ignored=plan.ignored)


class _Merger:
    """Shared part: output file, strip buffers, flushing finished rows."""

    dtype = 'uint8'
    nodata = SEMANTIC_NODATA

    def __init__(self, model, plan: ScenePlan, tile_size: int, overlap: int, out_path):
        self.model, self.plan = model, plan
        self.tile_size, self.overlap = tile_size, overlap
        self.out_path = os.fspath(out_path)
        self.geojson_path = None
        self.scores_path = None
        self.num_instances = 0
        grid = plan.grid
        capacity = tile_size + FLUSH_ROWS
        self.valid = RowBuffer(1, grid.width, grid.height, capacity, np.uint8, FLUSH_ROWS)
        self.profile = dict(driver='GTiff', width=grid.width, height=grid.height, count=1,
                            dtype=self.dtype, crs=grid.crs, transform=grid.transform,
                            nodata=self.nodata, compress='deflate', tiled=False,
                            blockysize=FLUSH_ROWS, BIGTIFF='IF_SAFER')

    def __enter__(self):
        self.dst = rasterio.open(self.out_path, 'w', **self.profile)
        return self

    def __exit__(self, *exc):
        self.dst.close()

    @property
    def buffer_bytes(self) -> int:
        return self.valid.nbytes

    def _tile_extent(self, tile: Tile) -> Tuple[int, int]:
        grid = self.plan.grid
        return min(tile.size, grid.height - tile.y0), min(tile.size, grid.width - tile.x0)

    def _write(self, row0: int, block: np.ndarray) -> None:
        self.dst.write(block, 1, window=Window(0, row0, block.shape[-1], block.shape[0]))


class _SemanticMerger(_Merger):
    """Weighted sum of per-class scores (+ the weight sum) over a strip of rows."""

    def __init__(self, *args, scores_path=None):
        super().__init__(*args)
        self.requested_scores_path = os.fspath(scores_path) if scores_path else None
        self.scores_dst = None  # opened (and scores_path set) once the class count is known
        self.num_classes = None
        self.binary = False
        self.scores: Optional[RowBuffer] = None  # created once the class count is known
        self.weights = {}

    @property
    def buffer_bytes(self) -> int:
        return self.valid.nbytes + (self.scores.nbytes if self.scores is not None else 0)

    def __exit__(self, *exc):
        if self.scores_dst is not None:
            self.scores_dst.close()
        super().__exit__(*exc)

    def _start(self, num_classes: int) -> None:
        grid = self.plan.grid
        self.num_classes = num_classes
        if num_classes >= SEMANTIC_NODATA:
            raise ValueError(f'{num_classes} classes do not fit a uint8 raster')
        # last channel: sum of weights, to write weighted-mean scores
        self.scores = RowBuffer(num_classes + 1, grid.width, grid.height,
                                self.tile_size + FLUSH_ROWS, np.float32, FLUSH_ROWS)
        self.scores.start = self.valid.start  # rows already released were all empty
        if self.requested_scores_path:
            self.scores_path = self.requested_scores_path
            bands = 1 if self.binary else num_classes
            profile = dict(self.profile, count=bands, dtype='float32', nodata=float('nan'),
                           predictor=3)
            self.scores_dst = rasterio.open(self.scores_path, 'w', **profile)
            self._write_scores(0, np.full((bands, self.valid.start, grid.width), np.nan,
                                          dtype=np.float32))

    def add(self, tile: Tile, sample, valid: np.ndarray) -> None:
        self.binary = sample.seg_logits.data.shape[0] == 1
        scores = _semantic_scores(self.model, [sample])[0]
        if self.scores is None:
            self._start(scores.shape[0])
        weight = self.weights.get(tile.neighbours)
        if weight is None:
            weight = self.weights[tile.neighbours] = tile_weight(tile.size, self.overlap,
                                                                 tile.neighbours)
        h, w = self._tile_extent(tile)
        weight = weight[:h, :w]
        view = self.scores.view(tile.y0, tile.y0 + h, tile.x0, tile.x0 + w)
        view[:-1] += scores[:, :h, :w] * weight
        view[-1] += weight
        self.valid.view(tile.y0, tile.y0 + h, tile.x0, tile.x0 + w)[0] |= valid[:h, :w]

    def _write_scores(self, row0: int, block: np.ndarray) -> None:
        if self.scores_dst is not None and block.shape[1]:
            window = Window(0, row0, block.shape[-1], block.shape[1])
            self.scores_dst.write(block, window=window)

    def flush(self, until: int) -> None:
        score_blocks = list(self.scores.release(until)) if self.scores is not None else []
        for i, (row0, valid) in enumerate(self.valid.release(until)):
            nodata = valid[0] == 0
            if not score_blocks:
                classes = np.full(valid.shape[1:], SEMANTIC_NODATA, dtype=np.uint8)
                self._write(row0, classes)
                continue
            block = score_blocks[i][1]
            classes = np.argmax(block[:-1], axis=0).astype(np.uint8)
            classes[nodata] = SEMANTIC_NODATA
            self._write(row0, classes)
            if self.scores_dst is not None:
                with np.errstate(invalid='ignore', divide='ignore'):
                    mean = block[:-1] / block[-1:]
                mean[:, nodata] = np.nan
                self._write_scores(row0, mean[1:] if self.binary else mean)


class _InstanceMerger(_Merger):

    dtype = 'uint32'
    nodata = INSTANCE_NODATA

    def __init__(self, *args, score_thr: float = 0.5, geojson_path=None,
                 max_overlap: float = 0.5):
        super().__init__(*args)
        self.score_thr, self.max_overlap = score_thr, max_overlap
        grid = self.plan.grid
        self.ids = RowBuffer(1, grid.width, grid.height, self.tile_size + FLUSH_ROWS, np.uint32,
                             FLUSH_ROWS)
        root, _ = os.path.splitext(self.out_path)
        self.geojson_path = os.fspath(geojson_path) if geojson_path else root + '.geojson'
        meta = getattr(self.model, 'dataset_meta', None) or {}
        self.class_names = list(meta.get('classes', ()))

    @property
    def buffer_bytes(self) -> int:
        return self.valid.nbytes + self.ids.nbytes

    def __enter__(self):
        super().__enter__()
        self.geojson = open(self.geojson_path, 'w')
        header = dict(type='FeatureCollection', crs=_geojson_crs(self.plan.grid.crs))
        self.geojson.write(json.dumps(header)[:-1] + ', "features": [\n')
        return self

    def __exit__(self, *exc):
        self.geojson.write('\n]}\n')
        self.geojson.close()
        super().__exit__(*exc)

    def add(self, tile: Tile, sample, valid: np.ndarray) -> None:
        h, w = self._tile_extent(tile)
        valid = valid[:h, :w]
        self.valid.view(tile.y0, tile.y0 + h, tile.x0, tile.x0 + w)[0] |= valid
        inst = sample.pred_instances
        if len(inst) == 0:
            return
        scores = inst.scores.float().cpu().numpy()
        labels = inst.labels.cpu().numpy()
        masks = inst.masks
        masks = (masks.cpu().numpy() if torch.is_tensor(masks) else np.asarray(masks)).astype(bool)
        ids = self.ids.view(tile.y0, tile.y0 + h, tile.x0, tile.x0 + w)[0]
        cy0, cy1, cx0, cx1 = tile.core
        tile_transform = self.plan.grid.transform @ rasterio.Affine.translation(tile.x0, tile.y0)
        for k in np.argsort(-scores, kind='stable'):
            if scores[k] < self.score_thr:
                break
            mask = masks[k, :h, :w] & valid
            ys, xs = np.nonzero(mask)
            if ys.size == 0:
                continue
            cy, cx = tile.y0 + ys.mean(), tile.x0 + xs.mean()
            if not (cy0 <= cy < cy1 and cx0 <= cx < cx1):
                continue  # another tile owns this instance
            paint = mask & (ids == 0)
            if paint.sum() <= (1.0 - self.max_overlap) * ys.size:
                continue  # mostly covered by a kept instance: a duplicate (e.g. across tiles)
            self.num_instances += 1
            ids[paint] = self.num_instances
            self._write_feature(paint, tile_transform, float(scores[k]), int(labels[k]))

    def _write_feature(self, paint: np.ndarray, transform, score: float, label: int) -> None:
        polygons = [geom for geom, _ in rasterio.features.shapes(
            paint.astype(np.uint8), mask=paint, transform=transform)]
        if len(polygons) == 1:
            geometry = polygons[0]
        else:
            geometry = dict(type='MultiPolygon',
                            coordinates=[p['coordinates'] for p in polygons])
        res = self.plan.grid.transform
        properties = dict(id=self.num_instances, score=round(score, 6), label=label,
                          pixels=int(paint.sum()),
                          area=float(paint.sum() * abs(res.a * res.e)))
        if 0 <= label < len(self.class_names):
            properties['class'] = self.class_names[label]
        feature = dict(type='Feature', id=self.num_instances, geometry=geometry,
                       properties=properties)
        if self.num_instances > 1:
            self.geojson.write(',\n')
        self.geojson.write(json.dumps(feature))

    def flush(self, until: int) -> None:
        id_blocks = list(self.ids.release(until))
        for (row0, valid), (_, ids) in zip(self.valid.release(until), id_blocks):
            block = ids[0]
            block[valid[0] == 0] = INSTANCE_NODATA
            self._write(row0, block)
