# Dataset layer: DFC2023 Track 2 as binary building segmentation (RGB, SAR, DSM).
# The modalities are declared once, in dfc2023_modalities.py.
_base_ = ['../schedules/mask2former_semantic_20k.py', './dfc2023_modalities.py']

model = dict(backbone=dict(modality_specs={{_base_.modality_specs}}))

dataset_type = 'DFC2023BuildingSegDataset'
# generate with `python tools/make_synthetic_data.py dfc2023 data/synthetic/dfc2023`,
# or point at a real DFC2023 Track 2 copy
data_root = 'data/synthetic/dfc2023/'

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadAnnotations'),
    dict(type='MultimodalResize', scale={{_base_.crop_size}}, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale={{_base_.crop_size}}, keep_ratio=True),
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
