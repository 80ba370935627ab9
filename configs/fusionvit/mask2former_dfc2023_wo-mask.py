# Ablation: without masked self-attention (modality tokens may attend to every
# token), modality attention and random modality combination kept.
_base_ = ['./mask2former_dfc2023.py']

model = dict(backbone=dict(masked_attention=False))
