"""Compatibility shims for the pinned OpenMMLab stack on current torch.

Applied once, on ``import incomplete_fusion``. Each shim is small, says which
version combination needs it, and is tested by a test that fails without it
(``tests/test_compat.py``).

``trusted_local_checkpoints``
    torch >= 2.6 made ``torch.load(weights_only=True)`` the default. mmengine
    0.10.7 calls ``torch.load(filename, map_location)`` for local files, and its
    own checkpoints pickle Python objects (the message hub, the config, numpy
    scalars), so ``--resume`` and ``load_from`` fail with ``UnpicklingError``.
    We re-register mmengine's local-file loader so that it passes
    ``weights_only=False``: the pre-2.6 behaviour, limited to checkpoints loaded
    through mmengine from local paths. Only load checkpoints you trust.
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader


def _load_trusted_local_checkpoint(filename: str, map_location=None) -> dict:
    """mmengine's ``load_from_local`` with ``weights_only=False``."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def apply() -> None:
    """Apply every shim; safe to call more than once."""
    CheckpointLoader.register_scheme(prefixes='', loader=_load_trusted_local_checkpoint, force=True)


apply()
