# Schedule layer (MultiMAE pretraining): mmpretrain's default runtime, AdamW 1.5e-4,
# 40 warm-up epochs then cosine to 400, and the loop that binds the run's modalities.
_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-4, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'fusion_tokens': dict(decay_mult=0.0),
            'task_embed': dict(decay_mult=0.0),
        }))
max_epochs = 400
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 40, eta_min=1e-6, by_epoch=True,
         begin=40, end=max_epochs, convert_to_iter_based=True),
]
# binds the run's top-level modality_specs/modalities/data_root: required
train_cfg = dict(type='ModalityEpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=20, max_keep_ckpts=3),
    iteration_seed=dict(type='IterationSeedHook'))  # bit-exact resume
log_processor = dict(window_size=10, by_epoch=True)
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=32)
