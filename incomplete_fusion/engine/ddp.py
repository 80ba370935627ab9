"""A DDP wrapper that also works for CPU modules (gloo), e.g. CI machines.

mmengine's runner always passes ``device_ids=[LOCAL_RANK]`` to a
DistributedDataParallel wrapper, which torch rejects for a module on CPU.
This wrapper drops ``device_ids`` when the module's parameters live on CPU and
is otherwise mmengine's ``MMDistributedDataParallel``.
"""
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class DeviceAgnosticDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that accepts CPU modules.

    Use through ``model_wrapper_cfg=dict(type='DeviceAgnosticDDP',
    find_unused_parameters=True)``; ``find_unused_parameters`` is needed because
    a modality absent from the whole batch leaves its patch embedding unused.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        first = next(module.parameters(), None)
        if first is not None and first.device.type == 'cpu':
            device_ids = None
            kwargs.pop('output_device', None)
        super().__init__(module=module, device_ids=device_ids, **kwargs)
