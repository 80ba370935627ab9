# Land-use / land-cover mapping on the quadruplet dataset (Sentinel-1, Sentinel-2,
# DEM, Dynamic World map): mmseg Mask2Former with FusionViT-T, 9 queries, the
# paper's 7 merged classes (`num_classes=9` on the dataset for the released 9).
_base_ = ['./mask2former_dfc2023_semantic.py']

modality_specs = [
    dict(name='s1', channels=2, norm='quadruplet_s1'),
    dict(name='s2', channels=4, norm='quadruplet_s2'),
    dict(name='dem', channels=1, norm='quadruplet_dem'),
    dict(name='dw', channels=1, kind='categorical', num_classes=9, norm=None),
]
modalities = ['s1', 's2', 'dem', 'dw']

crop_size = (256, 256)
num_classes = 7
num_queries = 9
ignore_index = 255

model = dict(
    data_preprocessor=dict(modality_specs=modality_specs, seg_pad_val=ignore_index),
    backbone=dict(modalities=modality_specs, img_size=crop_size),
    decode_head=dict(
        num_classes=num_classes,
        num_queries=num_queries,
        ignore_index=ignore_index,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])))

dataset_type = 'QuadrupletLULCDataset'
data_root = 'data/synthetic/quadruplet/'  # generated on first use; or a real quadruplet copy

train_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='LoadLabelRaster', ignore_index=ignore_index),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='MultimodalResize', scale=crop_size, keep_ratio=True),
    dict(type='LoadLabelRaster', ignore_index=ignore_index),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/train.txt',
        num_classes=num_classes,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/val.txt',
        num_classes=num_classes,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU', 'mFscore'],
                     ignore_index=ignore_index)
test_evaluator = val_evaluator
subset_metrics = ['mIoU', 'mFscore', 'aAcc']

custom_hooks = [
    dict(
        type='ModalityDropoutHook',
        modality_specs=modality_specs,
        modalities=modalities,
        mode='uniform_subset',
        keep_all_prob=0.0)
]
