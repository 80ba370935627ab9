# A *preset*, not a complete config: overrides that make any DFC2023 semantic
# config (configs/fusionvit/mask2former_dfc2023_semantic.py and its MultiViT and
# ablation variants) train in minutes on 2 CPU cores (timings: docs/results.md).
# `tools/train.py CONFIG --preset configs/demo/cpu_preset.py` merges it on top of a
# config; tools/demo.py and tools/robustness_study.py write the merged result to
# <work_dir>/<config>_cpu_preset.py, which the stock tools then run unchanged.
#
# Same model family as the paper config: FusionViT + pyramid neck + Mask2Former
# with random modality combinations. Smaller: 128x128 inputs, a 6-layer ViT-T,
# a 2-layer pixel-decoder encoder, 3 Mask2Former decoder layers, fewer sampled
# points, and a shorter schedule with a higher learning rate.
crop_size = (128, 128)
feat = 128

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

# the pipelines repeat the dataset layer's with the smaller resize (a list is
# replaced as a whole when configs merge)
train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadAnnotations'),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=3e-4))
# the demo's budget; the robustness study sets its own (--iters)
train_cfg = dict(max_iters=800, val_interval=800)
default_hooks = dict(checkpoint=dict(interval=800), logger=dict(interval=50))
