# Dataset layer: EarthMiss read as released (incomplete_fusion/datasets/earthmiss.py;
# docs/user_guides/datasets/earthmiss.md): optical `rgb` + `sar` (one 8-bit band,
# 0 = no data -> NaN), 8 classes, label 0 ignored. City-disjoint: the release's
# training and test cities, validation on its third list of cities (never the test
# cities). Training and slide inference as the release's code: 512 px crops, 512 px
# windows with stride 341.
_base_ = ['../schedules/mask2former_semantic_20k.py']

modality_specs = [
    # 8-bit values; the release's own statistics (Yi-Heng/EarthMiss configs/metadata)
    dict(name='rgb', channels=3, units='dn8',
         norm=dict(mean=(111.97, 118.42, 115.03), std=(72.97, 72.99, 81.92), units='dn8')),
    dict(name='sar', channels=1, units='dn8', nodata=0,
         norm=dict(mean=(63.30, ), std=(68.20, ), units='dn8')),
]
modalities = ['rgb', 'sar']
crop_size = (512, 512)
num_classes = 8
ignore_index = 255
model = dict(
    data_preprocessor=dict(size=crop_size, seg_pad_val=ignore_index),
    backbone=dict(modality_specs=modality_specs, img_size=crop_size),
    decode_head=dict(
        num_classes=num_classes,
        num_queries=num_classes + 1,
        ignore_index=ignore_index,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

dataset_type = 'EarthMissDataset'
# generate with `python tools/make_synthetic_data.py earthmiss data/synthetic/earthmiss`,
# or point at the extracted release (the folder holding the 13 city folders)
data_root = 'data/synthetic/earthmiss/'

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadLabelCodes', num_classes=num_classes),  # 0 -> ignored, 1..8 -> 0..7
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadLabelCodes', num_classes=num_classes),  # no label file: prediction only
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test', test_mode=True,
                 pipeline=test_pipeline))

# the release's protocol: mIoU, mF1, OA (aAcc) and Cohen's kappa
val_evaluator = dict(_delete_=True, type='IoUKappaMetric', iou_metrics=['mIoU', 'mFscore'],
                     ignore_index=ignore_index)
test_evaluator = val_evaluator
subset_metrics = ['mIoU', 'mFscore', 'aAcc', 'kappa']
