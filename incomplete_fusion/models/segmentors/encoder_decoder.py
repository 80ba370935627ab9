"""mmseg's ``EncoderDecoder`` with sliding-window inference that works for Mask2Former.

(mmseg has a ``MultimodalEncoderDecoder`` of its own, for vision-language models.)

mmseg 1.2.2's ``slide_inference`` tells the decode head the window's ``img_shape``
but leaves ``pad_shape`` at the whole (padded) image, and ``Mask2FormerHead.predict``
resizes its masks to ``pad_shape``: every window's logits come back at the size of
the whole image and the sum over windows fails (or, for a window of the same size,
is silently misplaced). The decode head is always given exactly the tensor it
predicts for, so its ``pad_shape`` is that tensor's size, in whole and slide mode.
"""
from typing import List

from mmseg.models.segmentors import EncoderDecoder
from torch import Tensor

from ...registry import MODELS


@MODELS.register_module()
class FusionEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose decode head sees the shape of its input as ``pad_shape``."""

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        shape = tuple(inputs.shape[2:])
        metas = [dict(meta, pad_shape=shape) for meta in batch_img_metas]
        return super().encode_decode(inputs, metas)
