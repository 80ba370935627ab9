# Ablation: without masked self-attention (modality tokens may attend to every
# token), modality attention and random modality combination kept.
_base_ = ['./mask2former_quadruplet.py']

model = dict(backbone=dict(masked_attention=False))
