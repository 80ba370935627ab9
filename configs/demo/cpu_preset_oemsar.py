# A *preset* (a partial config, merged with `--preset`): configs/demo/cpu_preset.py's
# smaller model (128 px, a 6-block ViT-T, a smaller Mask2Former) for the optical + SAR
# land-cover configs (mask2former_oemsar.py; cpu_preset_earthmiss.py is this preset),
# on tiles resized to about 256 px: 128 px crops, 128 px slide windows, 400 iterations.
#
#   python tools/make_synthetic_data.py oemsar data/synthetic/oemsar_cpu \
#       --num-train 12 --num-test 2 --size 256
#   python tools/train.py configs/fusionvit/mask2former_oemsar.py \
#       --preset configs/demo/cpu_preset_oemsar.py --cfg-options data_root=data/synthetic/oemsar_cpu
#   python tools/test.py configs/fusionvit/mask2former_oemsar.py CKPT --all-subsets \
#       --preset configs/demo/cpu_preset_oemsar.py --cfg-options data_root=data/synthetic/oemsar_cpu
_base_ = ['./cpu_preset.py']

tile_size = (256, 256)  # every tile is resized to about this size (train and test)
num_classes = 8  # both releases' classes (the pipelines are replaced as a whole)
model = dict(test_cfg=dict(crop_size={{_base_.crop_size}}, stride=(85, 85)))

train_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='LoadLabelCodes', num_classes=num_classes),
    dict(type='RandomResize', scale=tile_size, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadMultimodalImages'),
    dict(type='MultimodalResize', scale=tile_size, keep_ratio=True),
    dict(type='LoadLabelCodes', num_classes=num_classes),  # at the original size
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

train_cfg = dict(max_iters=400, val_interval=400)
default_hooks = dict(checkpoint=dict(interval=400))
