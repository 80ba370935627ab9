# FusionViT-T, declared once (docs/advanced_guides/backbone.md): the ViT-T scale, the dense taps
# and training-time PatchDropout. The model layers and configs that build a backbone
# of this scale merge these variables into their backbone dict with mmengine's base
# variables, e.g. `backbone=dict(**_base_.fusionvit_t, modality_specs=..., img_size=...)`;
# change the scale here, not in the configs that use it.

# ViT-T: 16-pixel patches, D = 192, 12 blocks, 3 heads, MLP ratio 4; the fusion tokens
# after blocks 3, 6, 9 and 12 feed the pyramid neck.
vit_t = dict(patch_size=16, embed_dims=192, depth=12, num_heads=3, mlp_ratio=4.0,
             out_indices=(2, 5, 8, 11))
# PatchDropout while training: keep ~90 % of the present tokens, per-modality share of
# the kept tokens ~ symmetric Dirichlet(1).
patch_dropout = dict(patch_keep_ratio=0.9, dirichlet_alpha=1.0)
# The backbone of the supervised configs: masked self-attention and modality attention.
fusionvit_t = dict(type='FusionViT', **vit_t, masked_attention=True, modality_attention=True,
                   **patch_dropout, drop_path_rate=0.1)
