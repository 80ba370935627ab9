"""Fill-in-then-segment (GEMMNet-style): reconstruct missing pixels, then segment.

:class:`FillInBackbone` wraps a segmentation backbone and a frozen
:class:`~incomplete_fusion.models.selfsup.MultiMAE` (the generator). Guaranteed:
every pixel a modality lacks (NaN) but another modality observes is replaced by the
generator's reconstruction (categorical: the argmax class); observed values pass
through untouched; a pixel no modality observes stays NaN. As a backbone it slots
into any config's ``model.backbone``; a segmenter checkpoint (``backbone.*``) loads
into the wrapped backbone, the generator's from ``generator_checkpoint``.
See docs/advanced_guides/pretraining.md#missing-modality-strategy-fill-in-then-segment-gemmnet-style.
"""
import os.path as osp
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import _load_checkpoint
from torch import Tensor

from incomplete_fusion.binding import DeclaredModalities
from incomplete_fusion.registry import MODELS

__all__ = ['FillInBackbone']

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _config_path(path: str) -> str:
    """``path`` as given, else relative to the repository root (``configs/...``)."""
    for candidate in (path, osp.join(REPO, path)):
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(f'generator config {path!r} not found (also tried {REPO}/{path})')


def _checkpoint_state(path: str) -> Tuple[Dict[str, Tensor], dict]:
    if not path or not osp.isfile(path):
        raise FileNotFoundError(
            f'generator_checkpoint {path!r} does not exist: pretrain a MultiMAE (e.g. '
            '`python tools/train.py configs/fusionvit/multimae_dfc2023.py`) and set '
            '`model.backbone.generator_checkpoint=PATH` (--cfg-options)')
    ckpt = _load_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    return state, ckpt.get('meta', {}) or {}


def generator_cfg(generator: Union[None, str, dict], meta: dict) -> dict:
    """The generator's model dict from a dict, a MultiMAE config file or, for ``None``,
    the config mmengine stored in the checkpoint's ``meta['cfg']``."""
    if isinstance(generator, dict):
        cfg = dict(generator)
    elif isinstance(generator, str):
        cfg = dict(Config.fromfile(_config_path(generator)).model)
    elif generator is None:
        if 'cfg' not in meta:
            raise ValueError('generator=None builds the generator from the config stored in '
                             'generator_checkpoint, but that checkpoint has none: set '
                             '`generator` to the MultiMAE config file it was trained with')
        cfg = dict(Config.fromstring(meta['cfg'], '.py').model)
    else:
        raise TypeError(f'generator must be a dict, a config path or None, got {type(generator)}')
    if cfg.get('type') != 'MultiMAE':
        raise ValueError(f"the generator must be a MultiMAE model, got type={cfg.get('type')!r}")
    # only the encoder and the decoders run: no preprocessing (the root registry's no-op
    # preprocessor builds in any scope), no contrastive head
    cfg['data_preprocessor'] = dict(type='BaseDataPreprocessor')
    cfg.pop('contrastive_head', None)
    cfg.pop('init_cfg', None)
    return cfg


@MODELS.register_module()
class FillInBackbone(DeclaredModalities, BaseModule):
    """A segmentation backbone fed with inputs whose gaps a frozen MultiMAE filled in.

    Args:
        backbone: the segmentation backbone config (e.g. ``FusionViT``).
        generator: the MultiMAE model dict, the path of a MultiMAE config file
            (absolute, or relative to the working directory or the repository),
            or ``None``: the model config stored in ``generator_checkpoint``.
        generator_checkpoint: the MultiMAE checkpoint (``backbone.*`` and
            ``head.*`` are loaded, strictly). Required.
        in_training: also fill in during training (default: inference only, the
            segmenter trains on what it gets).
        **backbone_overrides: keys merged into ``backbone`` (so that presets that
            set ``model.backbone.depth`` etc. reach the segmenter; never the generator,
            whose architecture must match its checkpoint).
    """

    def __init__(self, backbone: dict, generator: Union[None, str, dict] = None,
                 generator_checkpoint: Optional[str] = None, in_training: bool = False,
                 init_cfg=None, **backbone_overrides):
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(dict(backbone, **backbone_overrides))
        state, meta = _checkpoint_state(generator_checkpoint)
        self.generator = MODELS.build(generator_cfg(generator, meta))
        self.generator_checkpoint = generator_checkpoint
        self.in_training = bool(in_training)
        self.declare(self.backbone.declared_specs)
        self._check_declarations()
        self._load_generator(state, generator_checkpoint)
        self.generator.requires_grad_(False)
        self.generator.eval()
        self.generator.is_init = True  # init_weights must not overwrite the checkpoint

    def _check_declarations(self) -> None:
        def key(specs):
            return [(s.name, int(s.channels), s.kind, s.num_classes) for s in specs]
        mine, theirs = key(self.declared_specs), key(self.generator.backbone.declared_specs)
        if mine != theirs:
            raise ValueError(
                f'the generator declares modalities {theirs} but the segmenter backbone '
                f'{mine}: fill-in needs a MultiMAE pretrained on the same modality_specs '
                '(names, channels, kinds, in the same order)')

    def _load_generator(self, state: Dict[str, Tensor], path: str) -> None:
        state = {k: v for k, v in state.items() if k.startswith(('backbone.', 'head.'))}
        if not state:
            raise ValueError(f'generator_checkpoint {path} holds no backbone.*/head.* weights '
                             '(a MultiMAE checkpoint of tools/train.py is expected)')
        hint = ('build the generator with the config it was trained with: '
                '`model.backbone.generator=<that config file>` or `model.backbone.generator=None` '
                '(the config stored in the checkpoint)')
        try:
            missing, unexpected = self.generator.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise ValueError(f'generator_checkpoint {path} does not fit the generator '
                             f'architecture ({err}); {hint}') from None
        missing = [k for k in missing if k.startswith(('backbone.', 'head.'))]
        if missing or unexpected:
            raise ValueError(
                f'generator_checkpoint {path} does not fit the generator architecture: '
                f'{len(missing)} weights missing (e.g. {missing[:2]}), {len(unexpected)} '
                f'unexpected (e.g. {unexpected[:2]}); {hint}')

    # ------------------------------------------------------------ properties
    @property
    def patch_size(self) -> int:
        return self.backbone.patch_size

    @property
    def img_size(self):
        return self.backbone.img_size

    def train(self, mode: bool = True) -> 'FillInBackbone':
        super().train(mode)
        self.generator.eval()  # frozen: no dropout, no patch dropout, no drop path
        return self

    # --------------------------------------------------------------- fill-in
    @torch.no_grad()
    def fill_in(self, inputs: Tensor) -> Tensor:
        """``inputs`` with the gaps that another modality observes reconstructed.

        Only the samples that have such a gap go through the generator.
        """
        gen = self.generator
        specs = {s.name: s for s in gen.backbone.specs}
        slices = gen.backbone.slices
        valid = gen.backbone._valid_pixels(inputs)  # the backbone's own NaN rule
        todo = {}
        for name in gen.head.names:
            others = [v for n, v in valid.items() if n != name]
            if not others:
                continue
            observed = torch.cat(others, 1).any(1, keepdim=True)
            pixels = inputs[:, slices[name]]
            gap = ~valid[name] if specs[name].is_categorical else ~torch.isfinite(pixels)
            todo[name] = gap & observed  # (B, C or 1, H, W)
        if not todo:
            return inputs
        needed = torch.stack([t.flatten(1).any(1) for t in todo.values()], 1).any(1)
        if not bool(needed.any()):
            return inputs
        idx = needed.nonzero().squeeze(1)
        part = inputs[idx]
        recs = self._reconstruct(part)
        for name, gap in todo.items():
            sl = slices[name]
            rec = recs[name]
            if specs[name].is_categorical:
                rec = rec.argmax(1, keepdim=True)
            part[:, sl] = torch.where(gap[idx], rec.to(part.dtype), part[:, sl])
        filled = inputs.clone()
        filled[idx] = part
        return filled

    def _reconstruct(self, inputs: Tensor) -> Dict[str, Tensor]:
        """The generator's reconstructions on the input grid (NaN-padded to its patches)."""
        p = self.generator.backbone.patch_size
        h, w = inputs.shape[-2:]
        padded = F.pad(inputs, (0, (-w) % p, 0, (-h) % p), value=float('nan'))
        recs = self.generator.reconstruct(padded)
        return {n: r[..., :h, :w] for n, r in recs.items()}

    def forward(self, inputs: Tensor):
        if not self.training or self.in_training:
            inputs = self.fill_in(inputs)
        return self.backbone(inputs)

    # --------------------------------------------------------------- loading
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Load a plain segmenter checkpoint: its ``backbone.<key>`` weights go to the
        wrapped backbone; generator weights it lacks keep the generator_checkpoint's."""
        own = ('backbone.', 'generator.')
        for key in [k for k in state_dict if k.startswith(prefix)]:
            if not key[len(prefix):].startswith(own):
                state_dict[prefix + 'backbone.' + key[len(prefix):]] = state_dict.pop(key)
        for key, value in self.generator.state_dict().items():
            state_dict.setdefault(prefix + 'generator.' + key, value)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
