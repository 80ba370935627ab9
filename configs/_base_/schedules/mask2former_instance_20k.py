# Schedule layer (instance): paper settings, AdamW 1e-4 / wd 0.05, x0.1 at 90 % and
# 95 % of training; the loops that apply the run's `modalities`/`data_root` under
# every entry point; random modality combination during training.
_base_ = ['../models/mask2former_fusionvit_instance.py']

# From scratch the backbone trains at the full lr (stock Mask2Former uses 0.1 for an
# ImageNet backbone; *_finetune configs do so for a pretrained FusionViT). Learned
# tokens/embeddings get no weight decay, as stock.
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys=dict(
            _delete_=True,  # drops the stock backbone lr_mult=0.1
            query_embed=embed_multi,
            query_feat=embed_multi,
            level_embed=embed_multi,
            fusion_tokens=embed_multi)))
max_iters = 20000
interval = 2000
param_scheduler = dict(
    _delete_=True,
    type='RelativeMultiStepLR',  # x0.1 at 90 % and 95 % of whatever max_iters is
    milestones=(0.9, 0.95),
    gamma=0.1,
    by_epoch=False)
# The Modality* loops bind the run's top-level modality_specs/modalities/data_root
# (after --cfg-options) to the model, hooks and datasets: without them a run fails.
train_cfg = dict(
    type='ModalityIterBasedTrainLoop', max_iters=max_iters, val_interval=interval,
    dynamic_intervals=None)
val_cfg = dict(type='ModalityValLoop')
test_cfg = dict(type='ModalityTestLoop')  # SubsetTestLoop: every modality subset
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval, save_last=True,
                    max_keep_ckpts=3),
    iteration_seed=dict(type='IterationSeedHook'))  # bit-exact resume
log_processor = dict(window_size=20)
# Random modality combination (paper III-C): per sample, uniform over the non-empty
# subsets of the active modalities; the rest become NaN.
custom_hooks = [dict(type='ModalityDropoutHook', mode='uniform_subset', keep_all_prob=0.0)]
auto_scale_lr = dict(enable=False, base_batch_size=16)
