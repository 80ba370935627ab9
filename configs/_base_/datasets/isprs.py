# Dataset layer: ISPRS Vaihingen / Potsdam as optical + height segmentation, in the
# layout `tools/convert_isprs.py` writes (512 px training patches; validation/test
# tiles whole, `--whole-tiles val`, predicted with slide inference). The protocol of
# GEMMNet / DIS2: modalities `rgir` (IR-R-G) and `ndsm`; five scored classes
# (impervious surface, building, low vegetation, tree, car), clutter ignored.
# The city is set by the task root (dataset type and data_root).
_base_ = ['../schedules/mask2former_semantic_20k.py']

modality_specs = [
    dict(name='rgir', channels=3, norm='isprs_optical', units='dn8'),
    dict(name='ndsm', channels=1, norm='isprs_ndsm', units='dn8'),
]
modalities = ['rgir', 'ndsm']
crop_size = (512, 512)
num_classes = 5
ignore_index = 255
model = dict(
    data_preprocessor=dict(size=crop_size, seg_pad_val=ignore_index),
    backbone=dict(modality_specs=modality_specs, img_size=crop_size),
    decode_head=dict(
        num_classes=num_classes,
        ignore_index=ignore_index,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    # whole tiles at test time: 512 px windows, a third of overlap
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

dataset_type = 'ISPRSVaihingenMultimodal'
# convert a release with `python tools/convert_isprs.py vaihingen RELEASE data/vaihingen
# --whole-tiles val` (synthetic release: incomplete_fusion.testing.generate)
data_root = 'data/vaihingen/'
eval_labels = 'eroded'  # the ISPRS evaluation labels (boundaries ignored); or 'full'

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadAnnotations'),  # the dataset's label_map sends clutter to 255
    dict(type='RandomResize', scale=crop_size, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    _delete_=True,
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type, data_root=data_root, ann_file='splits/train.txt', labels='full',
        pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, ann_file='splits/val.txt', labels=eval_labels,
        test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='PerClassIoUMetric', iou_metrics=['mIoU', 'mFscore'],
                     ignore_index=ignore_index)
test_evaluator = val_evaluator
# the columns of GEMMNet's Table 1: per-class F1, mean F1, mIoU
subset_metrics = ['F1.impervious_surface', 'F1.building', 'F1.low_vegetation', 'F1.tree',
                  'F1.car', 'mFscore', 'mIoU']
