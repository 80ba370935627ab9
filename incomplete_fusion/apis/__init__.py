"""High-level entry points (Python API behind the tools)."""
from .batch import SceneStatus, infer_scenes, read_manifest, scenes_from_pattern
from .mosaic import write_vrt
from .distributed import assemble_windows, row_windows, start_distributed
from .geotiff import GeoTiffWriter, write_geotiff
from .inference import SceneResult, infer_scene
from .merging import INSTANCE_NODATA, SEMANTIC_NODATA
from .model import default_tile_size, init_model, init_pretrain_model, model_task
from .reconstruct import ReconstructionResult, reconstruct_modalities, write_reconstructions
from .scene import SceneInputError, ScenePlan, plan_scene
from .scene_pipeline import ScenePipeline, predict_tiles, read_tile
from .tiling import Tile, plan_tiles

__all__ = [
    'init_model', 'infer_scene', 'predict_tiles', 'model_task', 'default_tile_size',
    'SceneResult', 'SEMANTIC_NODATA', 'INSTANCE_NODATA', 'SceneInputError', 'ScenePlan', 'Tile',
    'plan_scene', 'plan_tiles', 'read_tile', 'ReconstructionResult', 'init_pretrain_model',
    'reconstruct_modalities', 'write_reconstructions', 'ScenePipeline', 'GeoTiffWriter',
    'write_geotiff', 'infer_scenes', 'read_manifest', 'scenes_from_pattern', 'write_vrt',
    'SceneStatus', 'start_distributed', 'row_windows', 'assemble_windows'
]
