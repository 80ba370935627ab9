"""High-level entry points (Python API behind the tools)."""
from .inference import (INSTANCE_NODATA, SEMANTIC_NODATA, SceneResult, default_tile_size,
                        infer_scene, init_model, model_task, predict_tiles)
from .reconstruct import (ReconstructionResult, init_pretrain_model, reconstruct_modalities,
                          write_reconstructions)
from .scene import SceneInputError, ScenePlan, Tile, plan_scene, plan_tiles, read_tile

__all__ = [
    'init_model', 'infer_scene', 'predict_tiles', 'model_task', 'default_tile_size',
    'SceneResult', 'SEMANTIC_NODATA', 'INSTANCE_NODATA', 'SceneInputError', 'ScenePlan', 'Tile',
    'plan_scene', 'plan_tiles', 'read_tile', 'ReconstructionResult', 'init_pretrain_model',
    'reconstruct_modalities', 'write_reconstructions'
]
