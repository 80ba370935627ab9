# Binary building segmentation on DFC2023 Track 2 (RGB, SAR, DSM): stock mmseg
# Mask2Former with a FusionViT-T backbone + pyramid neck. Paper settings: 256x256,
# 2 queries, AdamW 1e-4 / wd 0.05, step x0.1 at 90 % and 95 %; mIoU plus per-class
# IoU and F1. The layers: configs/_base_/{models,schedules,datasets}.
#
#   python tools/train.py configs/fusionvit/mask2former_dfc2023_semantic.py
#   python tools/test.py configs/fusionvit/mask2former_dfc2023_semantic.py CKPT \
#       --cfg-options modalities=[sar]
# (the stock `mmseg/.mim/tools/{train,test}.py` and `mim train/test mmseg` work the same;
# add `test_cfg.type=SubsetTestLoop` for the table over every modality subset)
_base_ = ['../_base_/datasets/dfc2023_semantic.py']
