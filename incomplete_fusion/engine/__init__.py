"""Training-loop pieces (hooks, model wrappers)."""
from . import hooks  # noqa: F401
from .ddp import DeviceAgnosticDDP
from .hooks import ModalityDropoutHook
from .schedulers import RelativeMultiStepLR

__all__ = ['DeviceAgnosticDDP', 'ModalityDropoutHook', 'RelativeMultiStepLR']
