# A *preset* for configs/fusionvit/multimae_dfc2023.py: the MultiMAE pretraining whose
# backbone has the sizes of the robustness study's CPU preset (cpu_preset.py: ViT-T,
# depth 6, out_indices (1, 2, 4, 5), 128x128 inputs), on the study's data.
# tools/robustness_study.py pretrains with it once per seed; the fill-in-then-segment
# variant uses the checkpoint as its generator.
# The default schedule warms up for 40 of 400 epochs; here: one warm-up epoch, then
# a constant learning rate (the study sets the epochs with --pretrain-epochs).
crop_size = (128, 128)

model = dict(backbone=dict(img_size=crop_size, depth=6, out_indices=(1, 2, 4, 5)))

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'flip')),
]
train_dataloader = dict(batch_size=8, num_workers=1, persistent_workers=True,
                        dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=20)
default_hooks = dict(checkpoint=dict(interval=20, max_keep_ckpts=1),
                     logger=dict(interval=10))
