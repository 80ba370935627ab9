# Dataset layer: quadruplet LULC (Sentinel-1, Sentinel-2, DEM, Dynamic World map),
# the paper's 7 merged classes (`num_classes=9` on the dataset for the released 9).
_base_ = ['../schedules/mask2former_semantic_20k.py', './quadruplet_modalities.py']

num_classes = 7
ignore_index = 255
model = dict(
    backbone=dict(modality_specs={{_base_.modality_specs}}),
    data_preprocessor=dict(seg_pad_val=ignore_index),
    decode_head=dict(
        num_classes=num_classes,
        ignore_index=ignore_index,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))

dataset_type = 'QuadrupletLULCDataset'
# generate with `python tools/make_synthetic_data.py quadruplet data/synthetic/quadruplet`,
# or point at a real quadruplet copy
data_root = 'data/synthetic/quadruplet/'

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadLabelRaster', ignore_index=ignore_index),
    dict(type='MultimodalResize', scale={{_base_.crop_size}}, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale={{_base_.crop_size}}, keep_ratio=True),
    dict(type='LoadLabelRaster', ignore_index=ignore_index),
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
        ann_file='splits/train.txt',
        num_classes=num_classes,
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
        ann_file='splits/val.txt',
        num_classes=num_classes,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='PerClassIoUMetric', iou_metrics=['mIoU', 'mFscore'],
                     ignore_index=ignore_index)
test_evaluator = val_evaluator
subset_metrics = ['mIoU', 'mFscore', 'aAcc']
