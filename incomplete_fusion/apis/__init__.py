"""Entry points: build a model, predict scenes, fill in missing modalities.

The tiled-raster machinery behind :func:`infer_scene`/:func:`infer_scenes` is the
:mod:`.scene` sub-package (plan, read, engine, merge, write, jobs).
See docs/user_guides/3_inference.md.
"""
from .inference import infer_scene, infer_scenes
from .model import init_model, init_pretrain_model
from .reconstruct import reconstruct_modalities, write_reconstructions
from .scene import SceneInputError, plan_scene

__all__ = [
    'init_model', 'init_pretrain_model', 'plan_scene', 'SceneInputError', 'infer_scene',
    'infer_scenes', 'reconstruct_modalities', 'write_reconstructions'
]
