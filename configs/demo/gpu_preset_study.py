# The GPU robustness study's preset (benchmarks/gpu_study.sh): the paper's model as
# configured (FusionViT-T depth 12, 256x256, Mask2Former; no size change), only a
# short-schedule recipe: batch 8 instead of 2 and the CPU preset's higher learning
# rate (3e-4) for a few hundred iterations instead of 20k. The study sets max_iters.
train_dataloader = dict(batch_size=8, num_workers=2)
val_dataloader = dict(num_workers=2)
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=3e-4))
default_hooks = dict(logger=dict(interval=50))
