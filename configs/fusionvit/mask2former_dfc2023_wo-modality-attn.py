# Ablation: without the per-location modality attention of the fusion tokens
# (fusion tokens gather information through the masked self-attention only).
# Without modality attention the fusion tokens reach the input only through
# self-attention; the inherited fusion_init='modality_mean' gives them a local path at
# initialisation (docs/results.md, "Why the baselines collapsed, and the recipe").
_base_ = ['./mask2former_dfc2023.py']

model = dict(backbone=dict(modality_attention=False))
