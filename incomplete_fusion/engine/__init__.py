"""Training-loop pieces: the loops that bind the run's modalities, hooks, model wrappers."""
from . import hooks  # noqa: F401
from .ddp import DeviceAgnosticDDP
from .hooks import ModalityDropoutHook
from .loops import (ModalityEpochBasedTrainLoop, ModalityIterBasedTrainLoop, ModalityTestLoop,
                    ModalityValLoop, SubsetTestLoop, bind_run)
from .schedulers import RelativeMultiStepLR

__all__ = ['DeviceAgnosticDDP', 'ModalityDropoutHook', 'ModalityEpochBasedTrainLoop',
           'ModalityIterBasedTrainLoop', 'ModalityTestLoop', 'ModalityValLoop',
           'RelativeMultiStepLR', 'SubsetTestLoop', 'bind_run']
