# Building instance segmentation on DFC2023 Track 2 (RGB, SAR, DSM):
# stock mmdet Mask2Former with a FusionViT-T backbone + pyramid neck.
# Paper settings: 256x256 inputs, 100 queries, 1 class, AdamW 1e-4 / wd 0.05,
# step decay x0.1 at 90 % and 95 % of training, segm AP and AP@50.
#
#   python tools/train.py configs/fusionvit/mask2former_dfc2023.py
#   python tools/test.py configs/fusionvit/mask2former_dfc2023.py CKPT \
#       --cfg-options modalities=[sar,dsm]
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py']

custom_imports = dict(imports=['incomplete_fusion'], allow_failed_imports=False)

# ---------------------------------------------------------------- modalities
# Declared inputs, in channel order. `modalities` is the ACTIVE subset; the
# others are all-NaN and their files are not read. Override on the command line
# (`--cfg-options modalities=[sar,dsm]`): tools/train.py and tools/test.py carry
# the value into every component (incomplete_fusion.utils.apply_modalities).
modality_specs = [
    dict(name='rgb', channels=3, norm='dfc2023_rgb'),
    dict(name='sar', channels=1, norm='dfc2023_sar'),
    dict(name='dsm', channels=1, norm='tile_zscore'),
]
modalities = ['rgb', 'sar', 'dsm']

image_size = (256, 256)
num_things_classes = 1
num_stuff_classes = 0
num_classes = num_things_classes + num_stuff_classes

# ---------------------------------------------------------------- model
# Normalisation happens in LoadMultimodalImages (per-modality statistics);
# the preprocessor only stacks and pads (NaN = missing, padding included).
data_preprocessor = dict(
    _delete_=True,
    type='MultimodalDetDataPreprocessor',  # pads with NaN, refuses mean/std/bgr_to_rgb
    modality_specs=modality_specs,
    pad_size_divisor=32,
    pad_mask=True,
    mask_pad_value=0,
    pad_seg=False,
    batch_augments=None)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        _delete_=True,
        type='FusionViT',
        modalities=modality_specs,
        img_size=image_size,
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
    panoptic_head=dict(
        in_channels=[96, 192, 384, 768],
        strides=[4, 8, 16, 32],
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=100,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes),
    test_cfg=dict(panoptic_on=False, semantic_on=False, instance_on=True, max_per_image=100))

# ---------------------------------------------------------------- data
dataset_type = 'DFC2023InstanceDataset'
data_root = 'data/synthetic/dfc2023/'  # generated on first use; or a real DFC2023 Track 2 copy
backend_args = None

train_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='MultimodalDetResize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='MultimodalDetResize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                   'modality_names', 'inactive_modalities', 'missing_modalities')),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/buildings_only_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/buildings_only_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True,
    type='CocoMetric',
    ann_file=data_root + 'annotations/buildings_only_val.json',
    metric=['segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
# columns of tools/eval_subsets.py tables (the paper reports AP@50)
subset_metrics = ['coco/segm_mAP_50', 'coco/segm_mAP']

# ---------------------------------------------------------------- schedule
# From scratch the backbone trains at the full lr (stock Mask2Former uses 0.1 for
# an ImageNet backbone; *_finetune configs do so for a pretrained FusionViT).
# Learned tokens/embeddings get no weight decay, as stock.
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
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=interval,
    dynamic_intervals=None)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=interval, save_last=True,
                    max_keep_ckpts=3))
log_processor = dict(window_size=20)

# ---------------------------------------------------------------- runtime
# Random modality combination (paper III-C): per sample, uniform over the
# non-empty subsets of the active modalities; the rest become NaN.
custom_hooks = [
    dict(
        type='ModalityDropoutHook',
        modality_specs=modality_specs,
        modalities=modalities,
        mode='uniform_subset',
        keep_all_prob=0.0)
]
# DDP on GPU (nccl) or CPU (gloo); a modality absent from a whole batch leaves its
# patch embedding without gradient, hence find_unused_parameters.
model_wrapper_cfg = dict(type='DeviceAgnosticDDP', find_unused_parameters=True)
auto_scale_lr = dict(enable=False, base_batch_size=16)
