# MultiMAE pretraining of FusionViT-T on DFC2023 Track 2 (RGB + SAR + DSM), reconstruction only.
#
#   python tools/train.py configs/fusionvit/multimae_dfc2023.py
#
# Half of all present modality tokens visible, per-modality share ~ Dirichlet(1),
# one 2-block decoder per modality from the fusion tokens; L2 for RGB/SAR, L1 for
# the DSM, on masked and available patches only. No labels are used: the semantic
# dataset only supplies the file lists. Fine-tune with mask2former_dfc2023_finetune.py.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['incomplete_fusion'], allow_failed_imports=False)

modality_specs = [
    dict(name='rgb', channels=3, norm='dfc2023_rgb'),
    dict(name='sar', channels=1, norm='dfc2023_sar'),
    dict(name='dsm', channels=1, norm='tile_zscore'),
]
modalities = ['rgb', 'sar', 'dsm']  # active subset; the others load as missing (NaN)

data_root = 'data/synthetic/dfc2023/'  # generated on first use; or a real DFC2023 Track 2 copy
img_size = 256
patch_size = 16
embed_dims = 192

model = dict(
    type='MultiMAE',
    data_preprocessor=dict(type='SelfSupDataPreprocessor'),  # no normalisation: NaN passes
    backbone=dict(
        type='FusionViT',
        modalities=modality_specs,
        img_size=img_size,
        patch_size=patch_size,
        embed_dims=embed_dims,
        depth=12,
        num_heads=3,
        mlp_ratio=4.0,
        out_indices=(2, 5, 8, 11),
        patch_keep_ratio=1.0,  # the masking below replaces patch dropout
        drop_path_rate=0.0),
    mask_generator=dict(
        type='MultiModalMaskGenerator',
        visible_fraction=0.5,
        dirichlet_alpha=1.0,
        strategy='independent'),  # or 'consistent' (same locations in every modality)
    head=dict(
        type='MultiModalReconstructionHead',
        modalities=modality_specs,
        patch_size=patch_size,
        in_dims=embed_dims,
        decoder_dims=256,
        decoder_depth=2,
        decoder_heads=8,
        losses=dict(
            rgb=dict(type='l2', weight=1.0),
            sar=dict(type='l2', weight=1.0),
            dsm=dict(type='l1', weight=1.0))))
# no contrastive head here: see multimae_dfc2023_contrastive.py

train_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='MultimodalResize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'flip')),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='DFC2023BuildingSegDataset',  # used for its file lists; labels are not loaded
        data_root=data_root,
        ann_file='annotations/buildings_only_train.json',
        data_prefix=dict(img_path='train/', seg_map_path=''),
        pipeline=train_pipeline))

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
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=20, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_processor = dict(window_size=10, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=32)
