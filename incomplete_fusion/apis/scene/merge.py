"""Merging tile predictions into scene outputs, one finished strip of rows at a time.

Semantic: per-class scores weighted by a window tapering in the overlaps
(:mod:`.blend`), argmax once a row is final; uint8 classes, 255 where no input has
data. Instance: an instance is kept by the tile whose core holds its mask centroid,
painted where no kept instance is (a duplicate when more than ``max_instance_overlap``
of it is taken) and polygonised at once (:mod:`.vectors`); uint32 ids, 2**32-1 where
no input has data. ``rows=(a, b)`` (semantic) writes only those rows, equal to those
rows of the whole-scene output. See docs/user_guides/3_inference.md.
"""
import os
from typing import Optional

import numpy as np
import rasterio
import rasterio.features
import torch

from .blend import RowBuffer, tile_weight
from .geotiff import STRIP_ROWS, GeoTiffWriter, class_colormap
from .options import SceneOptions
from .plan import ScenePlan
from .tiles import Tile
from .vectors import VECTOR_SUFFIX, FeatureWriter

__all__ = ['SEMANTIC_NODATA', 'INSTANCE_NODATA', 'SemanticMerger', 'InstanceMerger']

SEMANTIC_NODATA = 255
INSTANCE_NODATA = np.iinfo(np.uint32).max


def semantic_scores(model, samples) -> np.ndarray:
    """(B, K, H, W) scores whose per-pixel argmax is mmseg's prediction."""
    logits = torch.stack([s.seg_logits.data for s in samples]).float().cpu().numpy()
    if logits.shape[1] == 1:  # binary head: sigmoid > threshold, as mmseg decides
        threshold = float(getattr(getattr(model, 'decode_head', None), 'threshold', 0.5) or 0.5)
        prob = 1.0 / (1.0 + np.exp(-logits))
        logits = np.concatenate([np.full_like(prob, threshold), prob], axis=1)
    return logits


class _Merger:
    """Shared part: output raster, strip buffers, flushing finished rows.

    ``options``: with ``tile_size`` and ``overlap`` resolved
    (:meth:`~.options.SceneOptions.with_tile_size`).
    """

    dtype = 'uint8'
    nodata = SEMANTIC_NODATA

    def __init__(self, model, plan: ScenePlan, options: SceneOptions, out_path,
                 rows=None, first_row: int = 0):
        if options.tile_size is None or options.overlap is None:
            raise ValueError('the merger needs options with tile_size and overlap resolved')
        self.model, self.plan, self.options = model, plan, options
        self.tile_size, self.overlap = options.tile_size, options.overlap
        self.format = options.format
        self.geojson_path = None
        self.scores_path = None
        self.num_instances = 0
        self.rows = tuple(rows) if rows is not None else (0, plan.grid.height)
        self.first_row = first_row - first_row % STRIP_ROWS  # first row held (window mode)
        meta = getattr(model, 'dataset_meta', None) or {}
        self.class_names = list(meta.get('classes', ()))
        self.palette = meta.get('palette')
        self.valid = self._buffer(1, np.uint8)
        self.out = self._writer(out_path, 1, self.dtype, nodata=self.nodata,
                                **self._class_options())

    def _class_options(self) -> dict:
        return {}

    def _writer(self, path, count: int, dtype, **options) -> GeoTiffWriter:
        """A writer of the output window (the whole grid unless ``rows``)."""
        grid, (row0, row1) = self.plan.grid, self.rows
        transform = grid.transform * rasterio.Affine.translation(0, row0)
        return GeoTiffWriter(path, row1 - row0, grid.width, count, dtype, crs=grid.crs,
                             transform=transform, format=self.format, row_offset=row0,
                             **options)

    def _buffer(self, channels: int, dtype) -> RowBuffer:
        grid = self.plan.grid
        buffer = RowBuffer(channels, grid.width, grid.height, self.tile_size + STRIP_ROWS, dtype,
                           STRIP_ROWS)
        buffer.start = self.first_row
        return buffer

    def __enter__(self):
        self.out.__enter__()
        return self

    def __exit__(self, *exc):
        self.out.__exit__(*exc)

    @property
    def buffer_bytes(self) -> int:
        return self.valid.nbytes

    def _views(self, tile: Tile, valid: np.ndarray, *buffers: RowBuffer):
        """Mark ``valid`` pixels and return the tile's (rows, cols) and its views of ``buffers``."""
        h, w = tile.extent(self.plan.grid)
        box = (tile.y0, tile.y0 + h, tile.x0, tile.x0 + w)
        self.valid.view(*box)[0] |= valid[:h, :w]
        return (h, w), [b.view(*box) for b in buffers]


class SemanticMerger(_Merger):
    """Weighted sum of per-class scores (+ the weight sum) over a strip of rows."""

    def __init__(self, *args, scores_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.requested_scores_path = os.fspath(scores_path) if scores_path else None
        self.scores_out: Optional[GeoTiffWriter] = None  # opened once the classes are known
        self.binary = False
        self.scores: Optional[RowBuffer] = None  # created once the class count is known
        self.weights = {}

    @property
    def buffer_bytes(self) -> int:
        return self.valid.nbytes + (self.scores.nbytes if self.scores is not None else 0)

    def __exit__(self, *exc):
        if self.scores_out is not None:
            self.scores_out.__exit__(*exc)
        super().__exit__(*exc)

    def _class_options(self) -> dict:
        names = self.class_names or None
        cmap = class_colormap(len(names), self.palette, SEMANTIC_NODATA) if names else None
        return dict(descriptions=['class'], class_names=names, colormap=cmap)

    def _start(self, num_classes: int) -> None:
        if num_classes >= SEMANTIC_NODATA:
            raise ValueError(f'{num_classes} classes do not fit a uint8 raster')
        # last channel: sum of weights, to write weighted-mean scores
        self.scores = self._buffer(num_classes + 1, np.float32)
        self.scores.start = self.valid.start  # rows already released were all empty
        if self.requested_scores_path:
            grid = self.plan.grid
            self.scores_path = self.requested_scores_path
            bands = 1 if self.binary else num_classes
            names = [str(n) for n in self.class_names]
            if len(names) != num_classes:
                names = [f'class_{k}' for k in range(num_classes)]
            descriptions = [f'score_{n}' for n in (names[1:] if self.binary else names)]
            self.scores_out = self._writer(self.scores_path, bands, 'float32',
                                           descriptions=descriptions)
            self.scores_out.__enter__()
            self.scores_out.write_rows(0, np.full((bands, self.valid.start, grid.width), np.nan,
                                                  dtype=np.float32))

    def add(self, tile: Tile, sample, valid: np.ndarray) -> None:
        self.binary = sample.seg_logits.data.shape[0] == 1
        scores = semantic_scores(self.model, [sample])[0]
        if self.scores is None:
            self._start(scores.shape[0])
        weight = self.weights.get(tile.neighbours)
        if weight is None:
            weight = self.weights[tile.neighbours] = tile_weight(tile.size, self.overlap,
                                                                 tile.neighbours)
        (h, w), (view, ) = self._views(tile, valid, self.scores)
        weight = weight[:h, :w]
        view[:-1] += scores[:, :h, :w] * weight
        view[-1] += weight

    def flush(self, until: int) -> None:
        score_blocks = list(self.scores.release(until)) if self.scores is not None else []
        for i, (row0, valid) in enumerate(self.valid.release(until)):
            nodata = valid[0] == 0
            if not score_blocks:
                self.out.write_rows(row0, np.full(valid.shape[1:], SEMANTIC_NODATA, np.uint8))
                continue
            block = score_blocks[i][1]
            classes = np.argmax(block[:-1], axis=0).astype(np.uint8)
            classes[nodata] = SEMANTIC_NODATA
            self.out.write_rows(row0, classes)
            if self.scores_out is not None:
                with np.errstate(invalid='ignore', divide='ignore'):
                    mean = block[:-1] / block[-1:]
                mean[:, nodata] = np.nan
                self.scores_out.write_rows(row0, mean[1:] if self.binary else mean)


class InstanceMerger(_Merger):
    """Instance ids over a strip of rows, polygons streamed to a GeoJSON."""

    dtype = 'uint32'
    nodata = INSTANCE_NODATA

    def __init__(self, *args, geojson_path=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.rows != (0, self.plan.grid.height):
            raise ValueError('instance outputs cannot be split into row windows (instance ids '
                             'and duplicates are resolved over the whole scene)')
        self.score_thr = self.options.score_thr
        self.max_overlap = self.options.max_instance_overlap
        self.ids = self._buffer(1, np.uint32)
        root, _ = os.path.splitext(self.out.path)
        vector_format = self.options.vector_format
        self.geojson_path = os.fspath(geojson_path) if geojson_path else \
            root + VECTOR_SUFFIX[vector_format]
        self.vectors = FeatureWriter(self.geojson_path, self.plan.grid.crs, vector_format)

    @property
    def buffer_bytes(self) -> int:
        return self.valid.nbytes + self.ids.nbytes

    def _class_options(self) -> dict:
        return dict(descriptions=['instance_id'])

    def __enter__(self):
        super().__enter__()
        self.vectors.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self.vectors.__exit__(*exc)
        finally:
            super().__exit__(*exc)

    def add(self, tile: Tile, sample, valid: np.ndarray) -> None:
        (h, w), (ids, ) = self._views(tile, valid, self.ids)
        valid, ids = valid[:h, :w], ids[0]
        inst = sample.pred_instances
        if len(inst) == 0:
            return
        scores = inst.scores.float().cpu().numpy()
        labels = inst.labels.cpu().numpy()
        masks = inst.masks
        masks = (masks.cpu().numpy() if torch.is_tensor(masks) else np.asarray(masks)).astype(bool)
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
        self.vectors.write(dict(type='Feature', id=self.num_instances, geometry=geometry,
                                properties=properties))

    def flush(self, until: int) -> None:
        id_blocks = list(self.ids.release(until))
        for (row0, valid), (_, ids) in zip(self.valid.release(until), id_blocks):
            block = ids[0]
            block[valid[0] == 0] = INSTANCE_NODATA
            self.out.write_rows(row0, block)
