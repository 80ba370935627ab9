"""Tiled inference over georeferenced rasters, by role.

* plan: :mod:`.plan` (inputs checked from headers, the output grid) and :mod:`.tiles`
  (the tiles covering it);
* read: :mod:`.read` (:class:`TileReader`: a tile through the config's own pipeline);
* engine: :mod:`.engine` (:class:`SceneRun`, :class:`SceneResult`, :func:`run_scenes`),
  :mod:`.stream` (tiles read ahead, batched, through the model) and :mod:`.options`
  (:class:`SceneOptions`, shared by every scene of a run);
* merge: :mod:`.merge` and :mod:`.blend` (tile predictions into a strip of rows);
* write: :mod:`.geotiff` (GeoTIFF/COG), :mod:`.vectors` (GeoJSON/GeoPackage), :mod:`.vrt`;
* jobs: :mod:`.jobs` (manifests, this rank's scenes, windows merged back, the report)
  and :mod:`.distributed` (ranks, row windows).

See docs/user_guides/3_inference.md.
"""
from .distributed import assemble_windows, row_windows, start_distributed
from .engine import SceneJob, SceneResult, SceneRun, run_scenes
from .geotiff import GeoTiffWriter, write_geotiff
from .jobs import read_manifest, scenes_from_pattern
from .merge import INSTANCE_NODATA, SEMANTIC_NODATA
from .options import SceneOptions
from .plan import SceneInputError, ScenePlan, plan_scene
from .read import Chip, TileReader
from .stream import predict_tiles, run_stream
from .tiles import Tile, plan_tiles
from .vrt import write_vrt

__all__ = [
    'plan_scene', 'ScenePlan', 'SceneInputError', 'Tile', 'plan_tiles', 'TileReader', 'Chip',
    'SceneOptions', 'SceneJob', 'SceneResult', 'SceneRun', 'run_scenes', 'run_stream',
    'predict_tiles', 'SEMANTIC_NODATA', 'INSTANCE_NODATA', 'GeoTiffWriter', 'write_geotiff',
    'write_vrt', 'read_manifest', 'scenes_from_pattern', 'start_distributed', 'row_windows',
    'assemble_windows'
]
