# Binary building segmentation on DFC2023 Track 2 (RGB, SAR, DSM):
# stock mmseg Mask2Former with a FusionViT-T backbone + pyramid neck.
# Paper settings: 256x256, 2 queries, AdamW 1e-4 / wd 0.05, step x0.1 at 90 % and
# 95 %; mIoU plus per-class IoU and F1.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py']

custom_imports = dict(imports=['mmdet.models', 'incomplete_fusion'], allow_failed_imports=False)

# ---------------------------------------------------------------- modalities
# Declared inputs in channel order; `modalities` is the active subset
# (`--cfg-options modalities=[sar,dsm]`, carried everywhere by the tools).
modality_specs = [
    dict(name='rgb', channels=3, norm='dfc2023_rgb'),
    dict(name='sar', channels=1, norm='dfc2023_sar'),
    dict(name='dsm', channels=1, norm='tile_zscore'),
]
modalities = ['rgb', 'sar', 'dsm']

crop_size = (256, 256)
num_classes = 2
num_queries = 2

# ---------------------------------------------------------------- model
# Normalisation is done per modality by LoadMultimodalImages, not here.
data_preprocessor = dict(
    _delete_=True,
    type='MultimodalSegDataPreprocessor',  # pads with NaN, refuses mean/std/bgr_to_rgb
    modality_specs=modality_specs,
    size=crop_size,
    seg_pad_val=255,
    test_cfg=dict(size_divisor=32))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='FusionViT',
        modalities=modality_specs,
        img_size=crop_size,
        patch_size=16,
        embed_dims=192,
        depth=12,
        num_heads=3,
        mlp_ratio=4.0,
        out_indices=(2, 5, 8, 11),
        masked_attention=True,
        modality_attention=True,
        patch_keep_ratio=0.9,
        dirichlet_alpha=1.0,
        drop_path_rate=0.1),
    neck=dict(type='FusionPyramidNeck', in_channels=192, out_channels=(96, 192, 384, 768)),
    decode_head=dict(
        in_channels=[96, 192, 384, 768],
        strides=[4, 8, 16, 32],
        num_classes=num_classes,
        num_queries=num_queries,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    test_cfg=dict(mode='whole'))

# ---------------------------------------------------------------- data
dataset_type = 'DFC2023BuildingSegDataset'
data_root = 'data/synthetic/dfc2023/'  # generated on first use; or a real DFC2023 Track 2 copy

train_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='LoadAnnotations'),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/buildings_only_train.json',
        data_prefix=dict(img_path='train/', seg_map_path=''),
        pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/buildings_only_val.json',
        data_prefix=dict(img_path='val/', seg_map_path=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='PerClassIoUMetric', iou_metrics=['mIoU', 'mFscore'])
test_evaluator = val_evaluator
subset_metrics = ['mIoU', 'mFscore', 'IoU.building', 'F1.building']

# ---------------------------------------------------------------- schedule
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
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=interval)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval, save_last=True,
                    max_keep_ckpts=3, save_best='mIoU'))

# ---------------------------------------------------------------- runtime
custom_hooks = [
    dict(
        type='ModalityDropoutHook',
        modality_specs=modality_specs,
        modalities=modalities,
        mode='uniform_subset',
        keep_all_prob=0.0)
]
model_wrapper_cfg = dict(type='DeviceAgnosticDDP', find_unused_parameters=True)
