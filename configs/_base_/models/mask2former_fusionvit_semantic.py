# Model layer: stock mmseg Mask2Former with a FusionViT-T backbone + pyramid neck.
# A diff over the stock config (a full config, so the layers above chain on it:
# models -> schedules -> datasets -> task root; see docs/user_guides/1_config.md). The
# backbone's `modality_specs` is set by the dataset layer, which declares them.
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py', './fusionvit_t.py']

custom_imports = dict(imports=['mmdet.models', 'incomplete_fusion'], allow_failed_imports=False)

crop_size = (256, 256)
num_classes = 2
num_queries = 2

model = dict(
    # the stock EncoderDecoder, with slide inference that works for Mask2Former
    type='FusionEncoderDecoder',
    # Normalisation is per modality in LoadMultimodalImages; this one stacks, pads
    # with NaN (= missing), NaNs the inactive modalities and refuses mean/std.
    data_preprocessor=dict(
        _delete_=True,
        type='MultimodalSegDataPreprocessor',
        size=crop_size,
        seg_pad_val=255,
        test_cfg=dict(size_divisor=32)),
    backbone=dict(
        _delete_=True,
        **_base_.fusionvit_t,  # FusionViT-T: ./fusionvit_t.py
        # fusion tokens start from the mean of the present modality embeddings at their
        # location (the paper's: fusion_init='learned'; docs/results.md#decision-fusion_init)
        fusion_init='modality_mean',
        modality_specs=None,  # set by the dataset layer
        img_size=crop_size),
    neck=dict(type='FusionPyramidNeck', in_channels=_base_.vit_t.embed_dims,
              out_channels=(96, 192, 384, 768)),
    decode_head=dict(
        in_channels=[96, 192, 384, 768],
        strides=[4, 8, 16, 32],
        num_classes=num_classes,
        num_queries=num_queries,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    test_cfg=dict(mode='whole'))
# DDP on GPU (nccl) or CPU (gloo); a modality absent from a whole batch leaves its
# patch embedding without gradient, hence find_unused_parameters.
model_wrapper_cfg = dict(type='DeviceAgnosticDDP', find_unused_parameters=True)
