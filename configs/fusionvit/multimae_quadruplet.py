# MultiMAE pretraining of FusionViT-T on Quadruplet LULC (S1 + S2 + DEM + Dynamic World),
# reconstruction only.
#
#   python tools/train.py configs/fusionvit/multimae_quadruplet.py
#
# L2 for S1/S2, L1 for the DEM, cross-entropy over the 9 Dynamic World classes; masked
# and available patches only. The LULC labels are not used. Fine-tune with
# mask2former_quadruplet_finetune.py.
_base_ = ['./multimae_dfc2023.py']

modality_specs = [
    dict(name='s1', channels=2, norm='quadruplet_s1'),
    dict(name='s2', channels=4, norm='quadruplet_s2'),
    dict(name='dem', channels=1, norm='quadruplet_dem'),
    dict(name='dw', channels=1, kind='categorical', num_classes=9, norm=None),
]
modalities = ['s1', 's2', 'dem', 'dw']

data_root = 'data/synthetic/quadruplet/'  # generated on first use; or a real quadruplet copy
img_size = 256
patch_size = 16
embed_dims = 192

model = dict(
    backbone=dict(modalities=modality_specs),
    head=dict(
        modalities=modality_specs,
        losses=dict(
            _delete_=True,
            s1=dict(type='l2', weight=1.0),
            s2=dict(type='l2', weight=1.0),
            dem=dict(type='l1', weight=1.0),
            dw=dict(type='ce', weight=1.0))))

train_pipeline = [
    dict(type='SelectModalities', modalities=modalities, modality_specs=modality_specs),
    dict(type='LoadMultimodalImages', modality_specs=modality_specs),
    dict(type='MultimodalResize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'flip')),
]
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='QuadrupletLULCDataset',  # used for its file lists; labels are not loaded
        data_root=data_root,
        ann_file='splits/train.txt',
        num_classes=7,
        pipeline=train_pipeline))
