# Model layer: MultiMAE pretraining of FusionViT-T (mmpretrain algorithm). Half of
# all present modality tokens visible, per-modality share ~ Dirichlet(1), one 2-block
# decoder per modality from the fusion tokens. The task root sets the backbone's and
# head's `modality_specs` and the per-modality losses (they depend on the data).
_base_ = ['./fusionvit_t.py']

custom_imports = dict(imports=['incomplete_fusion'], allow_failed_imports=False)

img_size = 256
patch_size = _base_.vit_t.patch_size
embed_dims = _base_.vit_t.embed_dims

model = dict(
    type='MultiMAE',
    data_preprocessor=dict(type='SelfSupDataPreprocessor'),  # no normalisation: NaN passes
    backbone=dict(
        type='FusionViT',
        **_base_.vit_t,  # ViT-T: ./fusionvit_t.py
        modality_specs=None,  # set by the task root
        img_size=img_size,
        fusion_init='modality_mean',  # as the supervised model layers
        patch_keep_ratio=1.0,  # the masking below replaces patch dropout
        drop_path_rate=0.0),
    mask_generator=dict(
        type='MultiModalMaskGenerator',
        visible_fraction=0.5,
        dirichlet_alpha=1.0,
        strategy='independent'),  # or 'consistent' (same locations in every modality)
    head=dict(
        type='MultiModalReconstructionHead',
        modality_specs=None,  # set by the task root
        patch_size=patch_size,
        in_dims=embed_dims,
        decoder_dims=256,
        decoder_depth=2,
        decoder_heads=8,
        losses=dict()))  # per modality, set by the task root
