# FusionViT with the paper's initialisation of the fusion tokens: a learned token per
# location only (fusion_init='learned'), instead of the shipped default that also adds
# the mean of the present modality embeddings at the location ('modality_mean',
# ../_base_/models/fusionvit_t.py). Any FusionViT config takes the same one key:
#   --cfg-options model.backbone.fusion_init=learned
# The robustness study compares the two (docs/results.md#decision-fusion_init).
_base_ = ['./mask2former_dfc2023_semantic.py']

model = dict(backbone=dict(fusion_init='learned'))
