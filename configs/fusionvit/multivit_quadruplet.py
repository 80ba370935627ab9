# MultiViT baseline (paper): plain self-attention over all modality and fusion
# tokens (no masked attention, no modality attention) and no random modality
# combination during training. Otherwise identical to mask2former_quadruplet.py.
# Without modality attention the fusion tokens reach the input only through
# self-attention; the inherited fusion_init='modality_mean' gives them a local path at
# initialisation (docs/results.md, "Why the baselines collapsed, and the recipe").
_base_ = ['./mask2former_quadruplet.py']

model = dict(backbone=dict(masked_attention=False, modality_attention=False))
custom_hooks = []
