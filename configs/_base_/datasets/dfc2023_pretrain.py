# Dataset layer (pretraining): DFC2023 Track 2 images (RGB, SAR, DSM), no labels: the
# semantic dataset only supplies the file lists.
_base_ = ['./dfc2023_modalities.py']  # the one declaration of the modalities

# generate with `python tools/make_synthetic_data.py dfc2023 data/synthetic/dfc2023`
data_root = 'data/synthetic/dfc2023/'
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
        type='DFC2023BuildingSegDataset',  # used for its file lists; labels are not loaded
        data_root=data_root,
        ann_file='annotations/buildings_only_train.json',
        data_prefix=dict(img_path='train/', seg_map_path=''),
        pipeline=train_pipeline))
