# The README demo (`make demo`): binary building segmentation on the small
# synthetic DFC2023-style dataset, sized to train in about 15 minutes on 2 CPU
# cores. Same model family as the paper config it inherits
# (FusionViT + pyramid neck + Mask2Former, random modality combinations), made
# smaller: 128x128 inputs, a 6-layer ViT-T, a lighter pixel decoder and fewer
# Mask2Former decoder layers and sampled points.
_base_ = ['../fusionvit/mask2former_dfc2023_semantic.py']

crop_size = (128, 128)
feat = 128
data_root = 'data/synthetic/dfc2023/'

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, depth=6, out_indices=(1, 2, 4, 5), drop_path_rate=0.0),
    neck=dict(out_channels=(64, 128, 192, 256)),
    decode_head=dict(
        in_channels=[64, 128, 192, 256],
        feat_channels=feat,
        out_channels=feat,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=feat, num_heads=4),
                    ffn_cfg=dict(embed_dims=feat, feedforward_channels=4 * feat))),
            positional_encoding=dict(num_feats=feat // 2)),
        positional_encoding=dict(num_feats=feat // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=feat, num_heads=4),
                cross_attn_cfg=dict(embed_dims=feat, num_heads=4),
                ffn_cfg=dict(embed_dims=feat, feedforward_channels=4 * feat))),
        train_cfg=dict(num_points=128 * 128 // 4)))

train_pipeline = [
    dict(type='SelectModalities', modalities={{_base_.modalities}},
         modality_specs={{_base_.modality_specs}}),
    dict(type='LoadMultimodalImages', modality_specs={{_base_.modality_specs}}),
    dict(type='LoadAnnotations'),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='SelectModalities', modalities={{_base_.modalities}},
         modality_specs={{_base_.modality_specs}}),
    dict(type='LoadMultimodalImages', modality_specs={{_base_.modality_specs}}),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=1, dataset=dict(data_root=data_root,
                                                                   pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=3e-4))
max_iters = 600
interval = 600
train_cfg = dict(max_iters=max_iters, val_interval=interval)
default_hooks = dict(checkpoint=dict(interval=interval))
