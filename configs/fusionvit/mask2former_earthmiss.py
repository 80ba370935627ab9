# EarthMiss (optical + SAR, 13 cities, city-disjoint): FusionViT-T + Mask2Former on
# optical + SAR with random modality combinations; scored on SAR only, RGB only and
# both. docs/user_guides/datasets/earthmiss.md.
#
#   python tools/train.py configs/fusionvit/mask2former_earthmiss.py
#       (checkpoints selected on the validation cities)
#   python tools/test.py configs/fusionvit/mask2former_earthmiss.py CKPT --all-subsets
#       (the test cities; SAR, RGB and RGB+SAR: mIoU, mF1, OA, kappa)
#   python tools/test.py configs/fusionvit/mask2former_earthmiss.py CKPT \
#       --cfg-options modalities=[sar]                     (one row of that table)
# (the stock `mmseg/.mim/tools/{train,test}.py` run the same config)
_base_ = ['../_base_/datasets/earthmiss.py']
