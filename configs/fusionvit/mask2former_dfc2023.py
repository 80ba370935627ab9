# Building instance segmentation on DFC2023 Track 2 (RGB, SAR, DSM): stock mmdet
# Mask2Former with a FusionViT-T backbone + pyramid neck. Paper settings: 256x256
# inputs, 100 queries, 1 class, AdamW 1e-4 / wd 0.05, step decay x0.1 at 90 % and 95 %
# of training, segm AP and AP@50. The layers: configs/_base_/{models,schedules,datasets}.
#
#   python tools/train.py configs/fusionvit/mask2former_dfc2023.py
#   python tools/test.py configs/fusionvit/mask2former_dfc2023.py CKPT \
#       --cfg-options modalities=[sar,dsm]
# (the stock `mmdet/.mim/tools/{train,test}.py` and `mim train/test mmdet` work the same)
_base_ = ['../_base_/datasets/dfc2023_instance.py']
