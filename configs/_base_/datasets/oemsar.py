# Dataset layer: OpenEarthMap-SAR (GRSS DFC2025 Track 1) read as released
# (incomplete_fusion/datasets/oemsar.py; docs/user_guides/datasets/oemsar.md): optical
# `rgb` + `sar` (one 8-bit band, 0 = no data -> NaN), 8 classes, label 0 ignored.
# The release has no validation split: whole regions of train/ are held out
# (region_split); test/ is SAR only without labels (predicted, see the docs).
# Slide inference as the winning entry's model (StuLiu/dfc2025track1): 896 px
# windows, stride 448, after training on 896 px crops of tiles resized around 1024 px.
_base_ = ['../schedules/mask2former_semantic_20k.py']

modality_specs = [
    # OpenEarthMap's 8-bit optical; ImageNet statistics, as the winning entry
    dict(name='rgb', channels=3, units='dn8',
         norm=dict(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), units='dn8')),
    # 8-bit SAR as released; 0 marks the no-data borders. Generic 8-bit statistics
    # (not measured on the release: no real data here)
    dict(name='sar', channels=1, units='dn8', nodata=0,
         norm=dict(mean=(127.5, ), std=(64.0, ), units='dn8')),
]
modalities = ['rgb', 'sar']
crop_size = (896, 896)
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
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(448, 448)))

dataset_type = 'OEMSARDataset'
# generate with `python tools/make_synthetic_data.py oemsar data/synthetic/oemsar`, or
# point at the extracted release (the folder holding train/ and test/)
data_root = 'data/synthetic/oemsar/'
val_regions = 0.1  # share of train/'s regions held out for validation (or a list)

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadLabelCodes', num_classes=num_classes),  # 0 -> ignored, 1..8 -> 0..7
    dict(type='RandomResize', scale=(1024, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
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
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', region_split='train',
                 val_regions=val_regions, pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', region_split='val',
                 val_regions=val_regions, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

# mIoU (the contest's figure), mF1, OA (aAcc) and Cohen's kappa
val_evaluator = dict(_delete_=True, type='IoUKappaMetric', iou_metrics=['mIoU', 'mFscore'],
                     ignore_index=ignore_index)
test_evaluator = val_evaluator
subset_metrics = ['mIoU', 'mFscore', 'aAcc', 'kappa']
