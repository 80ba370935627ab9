# Schedule layer (semantic): paper settings, AdamW 1e-4 / wd 0.05, x0.1 at 90 % and
# 95 % of training; the loops that apply the run's `modalities`/`data_root` under
# every entry point; random modality combination during training.
_base_ = ['../models/mask2former_fusionvit_semantic.py']

embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(
            _delete_=True,  # drops the stock backbone lr_mult=0.1
            query_embed=embed_multi,
            query_feat=embed_multi,
            level_embed=embed_multi,
            fusion_tokens=embed_multi)))
max_iters = 20000
interval = 2000
param_scheduler = [
    dict(type='RelativeMultiStepLR', milestones=(0.9, 0.95), gamma=0.1, by_epoch=False)
]
# The Modality* loops bind the run's top-level modality_specs/modalities/data_root
# (after --cfg-options) to the model, hooks and datasets: without them a run fails.
train_cfg = dict(type='ModalityIterBasedTrainLoop', max_iters=max_iters, val_interval=interval)
val_cfg = dict(type='ModalityValLoop')
test_cfg = dict(type='ModalityTestLoop')  # SubsetTestLoop: every modality subset
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval, save_last=True,
                    max_keep_ckpts=3, save_best='mIoU'),
    iteration_seed=dict(type='IterationSeedHook'))  # bit-exact resume
# Random modality combination (paper III-C): per sample, uniform over the non-empty
# subsets of the active modalities; the rest become NaN.
custom_hooks = [dict(type='ModalityDropoutHook', mode='uniform_subset', keep_all_prob=0.0)]
