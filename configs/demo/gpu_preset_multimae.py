# The GPU robustness study's MultiMAE preset (benchmarks/gpu_study.sh): the paper's
# MultiMAE (FusionViT-T depth 12, 256x256) as configured, pretrained for tens of
# epochs instead of 400: batch 16, one warm-up epoch, then a constant learning rate.
# The study sets max_epochs (--pretrain-epochs). Its checkpoint is the generator of
# the fill-in-then-segment variant.
train_dataloader = dict(batch_size=16, num_workers=2)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1), logger=dict(interval=10))
