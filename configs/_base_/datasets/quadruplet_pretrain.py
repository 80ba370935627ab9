# Dataset layer (pretraining): quadruplet LULC images (S1, S2, DEM, Dynamic World),
# no labels: the LULC dataset only supplies the file lists.
_base_ = ['./quadruplet_modalities.py']  # the one declaration of the modalities
# generate with `python tools/make_synthetic_data.py quadruplet data/synthetic/quadruplet`
data_root = 'data/synthetic/quadruplet/'
pretrain_size = (256, 256)

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale=pretrain_size, keep_ratio=False),
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
        type='QuadrupletLULCDataset',  # used for its file lists; labels are not loaded
        data_root=data_root,
        ann_file='splits/train.txt',
        num_classes=7,
        pipeline=train_pipeline))
