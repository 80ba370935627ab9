# Ablation: without the per-location modality attention of the fusion tokens
# (fusion tokens gather information through the masked self-attention only).
_base_ = ['./mask2former_dfc2023_semantic.py']

model = dict(backbone=dict(modality_attention=False))
