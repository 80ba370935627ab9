# CPU preset for OpenEarthMap-SAR: configs/fusionvit/mask2former_oemsar.py with the demo's
# smaller model (as configs/demo/cpu_preset.py: 128 px, a 6-block ViT-T, 2 pixel-decoder
# and 3 decoder layers) on tiles resized to 256 px, 400 iterations. A complete config,
# for a handful of tiles:
#
#   python tools/make_synthetic_data.py oemsar data/synthetic/oemsar_cpu --num-train 12 --num-test 2 --size 256
#   python tools/train.py configs/demo/cpu_preset_oemsar.py --cfg-options \
#       data_root=data/synthetic/oemsar_cpu
#   python tools/test.py configs/demo/cpu_preset_oemsar.py CKPT --all-subsets --cfg-options \
#       data_root=data/synthetic/oemsar_cpu
_base_ = ['../fusionvit/mask2former_oemsar.py']

crop_size = (128, 128)
tile_size = (256, 256)  # every tile is resized to about this size (train and test)
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
        train_cfg=dict(num_points=128 * 128 // 4)),
    test_cfg=dict(crop_size=crop_size, stride=(85, 85)))

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadLabelCodes', num_classes={{_base_.num_classes}}),
    dict(type='RandomResize', scale=tile_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale=tile_size, keep_ratio=True),
    dict(type='LoadLabelCodes', num_classes={{_base_.num_classes}}),  # at the original size
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=4, num_workers=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(num_workers=1, dataset=dict(pipeline=test_pipeline))

optim_wrapper = dict(optimizer=dict(lr=3e-4))
train_cfg = dict(max_iters=400, val_interval=400)
default_hooks = dict(checkpoint=dict(interval=400), logger=dict(interval=50))
