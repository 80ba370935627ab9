# cpu_preset_multimae.py at 64x64: the MultiMAE generator that matches the smoke
# preset cpu_preset_smoke.py (fill-in variant of a smoke run of the study).
_base_ = ['./cpu_preset_multimae.py']

crop_size = (64, 64)

model = dict(backbone=dict(img_size=crop_size))

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'flip')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
