"""Models: backbones, necks, layers, data preprocessors, self-supervised parts."""
from . import backbones, data_preprocessors, layers, necks, segmentors, selfsup  # noqa: F401
