# FusionViT with the local-path initialisation of the fusion tokens: each fusion
# token starts from the mean of the present modality embeddings at its location
# (fusion_init='modality_mean', no extra parameters) instead of a learned token
# (the paper's fusion_init='learned'). The robustness study compares the two
# (docs/results.md, "Robustness study", decision rule).
_base_ = ['./mask2former_dfc2023_semantic.py']

model = dict(backbone=dict(fusion_init='modality_mean'))
