# Dataset layer: DFC2023 Track 2 building instances (RGB, SAR, DSM), COCO json.
# The modalities are declared once, in dfc2023_modalities.py.
_base_ = ['../schedules/mask2former_instance_20k.py', './dfc2023_modalities.py']

model = dict(backbone=dict(modality_specs={{_base_.modality_specs}}))

dataset_type = 'DFC2023InstanceDataset'
# generate with `python tools/make_synthetic_data.py dfc2023 data/synthetic/dfc2023`,
# or point at a real DFC2023 Track 2 copy
data_root = 'data/synthetic/dfc2023/'
backend_args = None

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='MultimodalDetResize', scale={{_base_.image_size}}, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalDetResize', scale={{_base_.image_size}}, keep_ratio=True),
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
# columns of the per-subset tables (the paper reports AP@50)
subset_metrics = ['coco/segm_mAP_50', 'coco/segm_mAP']
