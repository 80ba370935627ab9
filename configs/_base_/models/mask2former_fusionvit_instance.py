# Model layer: stock mmdet Mask2Former with a FusionViT-T backbone + pyramid neck.
# A diff over the stock config (which is a full config, so the layers above this
# one chain on it: models -> schedules -> datasets -> task root; see docs/user_guides/1_config.md).
# The backbone's `modality_specs` is set by the dataset layer, which declares them.
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py', './fusionvit_t.py']

custom_imports = dict(imports=['incomplete_fusion'], allow_failed_imports=False)

image_size = (256, 256)
num_things_classes = 1
num_stuff_classes = 0
num_classes = num_things_classes + num_stuff_classes

model = dict(
    # Normalisation is per modality in LoadMultimodalImages; this one stacks, pads
    # with NaN (= missing), NaNs the inactive modalities and refuses mean/std.
    data_preprocessor=dict(
        _delete_=True,
        type='MultimodalDetDataPreprocessor',
        pad_size_divisor=32,
        pad_mask=True,
        mask_pad_value=0,
        pad_seg=False,
        batch_augments=None),
    backbone=dict(
        _delete_=True,
        **_base_.fusionvit_t,  # FusionViT-T: ./fusionvit_t.py
        # fusion tokens start from the mean of the present modality embeddings at their
        # location (the paper's: fusion_init='learned'; docs/results.md#decision-fusion_init)
        fusion_init='modality_mean',
        modality_specs=None,  # set by the dataset layer
        img_size=image_size),
    neck=dict(type='FusionPyramidNeck', in_channels=_base_.vit_t.embed_dims,
              out_channels=(96, 192, 384, 768)),
    panoptic_head=dict(
        in_channels=[96, 192, 384, 768],
        strides=[4, 8, 16, 32],
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=100,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes),
    test_cfg=dict(panoptic_on=False, semantic_on=False, instance_on=True, max_per_image=100))
# DDP on GPU (nccl) or CPU (gloo); a modality absent from a whole batch leaves its
# patch embedding without gradient, hence find_unused_parameters.
model_wrapper_cfg = dict(type='DeviceAgnosticDDP', find_unused_parameters=True)
