"""The options every scene of a run shares, in one frozen :class:`SceneOptions`.

They travel unchanged from the entry points to the engine, the stream and the
mergers. See docs/user_guides/3_inference.md.
"""
import os
from dataclasses import dataclass, replace
from typing import Optional, Tuple, Union

from ...datasets.geo_io import RasterGrid
from .geotiff import FORMATS
from .vectors import VECTOR_FORMATS

__all__ = ['SceneOptions', 'SIZE_DIVISOR']

SIZE_DIVISOR = 32  # Mask2Former's coarsest stride


@dataclass(frozen=True)
class SceneOptions:
    """How scenes are gridded, tiled, batched and written.

    Attributes:
        reference, extent, resolution: the output grid of a scene planned from
            files (see :func:`~.plan.plan_scene`).
        tile_size: model input size, a multiple of 32 (default: the backbone's
            ``img_size``). overlap: pixels shared by neighbouring tiles (default
            ``tile_size // 4``).
        batch_size: at most this many tiles per forward pass. mix_scenes: ``False``
            (default): a batch is a run of tiles of one tile row of one scene, so a
            scene's rasters do not depend on how it is run; ``True``: batches fill
            up across rows and scenes (see :mod:`.stream`).
        workers: threads reading tiles ahead of the model (0: read in the model's thread).
        format: rasters as ``'cog'`` (Cloud-Optimized GeoTIFF) or ``'gtiff'`` (striped).
        vector_format: instance polygons as ``'geojson'`` or ``'gpkg'``.
        score_thr: instance mode: minimum score of a kept instance.
        max_instance_overlap: instance mode: an instance covered by more than this
            fraction by already kept instances is dropped as a duplicate.
    """

    reference: Union[None, str, os.PathLike, RasterGrid] = None
    extent: str = 'union'
    resolution: Union[None, float, Tuple[float, float]] = None
    tile_size: Optional[int] = None
    overlap: Optional[int] = None
    batch_size: int = 4
    mix_scenes: bool = False
    workers: int = 1
    format: str = 'cog'
    vector_format: str = 'geojson'
    score_thr: float = 0.5
    max_instance_overlap: float = 0.5

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {self.batch_size}')
        if self.format not in FORMATS:
            raise ValueError(f'format must be one of {FORMATS}, got {self.format!r}')
        if self.vector_format not in VECTOR_FORMATS:
            raise ValueError(f'vector format must be one of {VECTOR_FORMATS}, '
                             f'got {self.vector_format!r}')
        if self.tile_size is not None and (self.tile_size <= 0 or
                                           self.tile_size % SIZE_DIVISOR):
            raise ValueError(f'tile_size must be a positive multiple of {SIZE_DIVISOR}, '
                             f'got {self.tile_size}')

    def with_tile_size(self, default: int) -> 'SceneOptions':
        """These options with ``tile_size`` (``default`` if unset) and ``overlap`` resolved."""
        size = int(self.tile_size or default)
        overlap = size // 4 if self.overlap is None else int(self.overlap)
        return replace(self, tile_size=size, overlap=overlap)
