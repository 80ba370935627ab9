"""Compatibility shims for the pinned OpenMMLab stack on current torch.

Applied once, on ``import incomplete_fusion``; each is tested by a test that fails
without it (``tests/test_compat.py``). ``load_local_checkpoint``: torch >= 2.6 loads
with ``weights_only=True``, which refuses the ``HistoryBuffer`` s and NumPy values of
mmengine Runner checkpoints. mmengine's local-file loader is re-registered to run
inside ``torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS)``: still
``weights_only``, exactly these extra classes, only while mmengine loads a local
file; every other ``torch.load`` keeps torch's default.
See docs/advanced_guides/checkpoints_resume.md#loading-checkpoints-on-torch--26-what-compatpy-allows.
"""
import pickle
from typing import Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

SafeGlobal = Union[Callable, Tuple[Callable, str]]


def _numpy_globals() -> List[SafeGlobal]:
    """What a pickled NumPy array or scalar names (no object dtype), under the module
    paths NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) write."""
    reconstruct = np.zeros(1).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    names = [(fn, f'{module}.multiarray.{fn.__name__}') for fn in (reconstruct, scalar)
             for module in ('numpy.core', 'numpy._core')]
    # NumPy >= 1.25 may pickle a dtype as its class (numpy.dtypes.Float64DType, ...)
    dtype_classes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdFDSU'}
    return names + [np.ndarray, np.dtype] + sorted(dtype_classes, key=str)


HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_method(owner, name: str):
    """Stands in for ``getattr`` while mmengine loads a checkpoint: a pickled
    HistoryBuffer names its statistics methods as ``getattr(HistoryBuffer, name)``;
    nothing else may be looked up."""
    # the defaults are registered only when a first HistoryBuffer is constructed,
    # which unpickling does not do: name them here
    allowed = HISTORY_BUFFER_STATISTICS.union(HistoryBuffer._statistics_methods)
    if owner is not HistoryBuffer or name not in allowed:
        raise pickle.UnpicklingError(
            f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only the statistics '
            'methods of mmengine.logging.HistoryBuffer are allowed')
    return getattr(HistoryBuffer, name)


#: The classes and functions, besides torch's own allow-list, that a checkpoint
#: of mmengine's Runner needs; accepted only inside :func:`load_local_checkpoint`.
MMENGINE_CHECKPOINT_GLOBALS: List[SafeGlobal] = [
    HistoryBuffer, (history_buffer_method, 'builtins.getattr')
] + _numpy_globals()


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine's ``load_from_local`` with :data:`MMENGINE_CHECKPOINT_GLOBALS` allowed."""
    with torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS):
        return load_from_local(filename, map_location)


def apply() -> None:
    """Apply every shim; safe to call more than once."""
    CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)


apply()
