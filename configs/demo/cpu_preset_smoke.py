# A smoke-test preset: cpu_preset.py at 64x64 inputs, for checking that the
# robustness study's machinery runs end to end (tools/robustness_study.py --preset
# configs/demo/cpu_preset_smoke.py --multimae-preset configs/demo/cpu_preset_multimae_smoke.py).
# It cannot rank variants: at patch 16 a 64x64 input is a 4x4 token grid, so each
# token covers a quarter of the tile's width and the fusion tokens have almost no
# spatial resolution; the ordering of variants measured with it did not hold at
# 128x128 (docs/results.md, "Robustness study"). The study's default is cpu_preset.py.
# Tiles stay 128 px and are resized to 64 px; evaluation resizes predictions back.
_base_ = ['./cpu_preset.py']

crop_size = (64, 64)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size),
    decode_head=dict(train_cfg=dict(num_points=64 * 64 // 4)))

# a list is replaced as a whole when configs merge: the pipelines with the new size
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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
