# Ablation: without the per-location modality attention of the fusion tokens
# (fusion tokens gather information through the masked self-attention only).
# Recipe (docs/results.md, "Why the baselines collapsed, and the recipe"): without
# modality attention the fusion tokens (the dense output) reach the input only
# through self-attention, near-uniform at initialisation, so every fusion token
# starts as the same global average and short runs settle on all-background.
# fusion_init='modality_mean' starts each fusion token from the mean of the present
# modality embeddings at its location: a local path at init, no extra parameters.
# This is part of what the baseline is here; FusionViT keeps fusion_init='learned'.
_base_ = ['./mask2former_quadruplet.py']

model = dict(backbone=dict(modality_attention=False, fusion_init='modality_mean'))
