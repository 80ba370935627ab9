# OpenEarthMap-SAR (GRSS DFC2025 Track 1, "all-weather land cover"): FusionViT-T +
# Mask2Former on optical + SAR with random modality combinations; the contest scores
# SAR only. docs/user_guides/datasets/oemsar.md.
#
#   python tools/train.py configs/fusionvit/mask2former_oemsar.py
#   python tools/test.py configs/fusionvit/mask2former_oemsar.py CKPT --all-subsets
#       (SAR, RGB and RGB+SAR on the held-out regions: mIoU, mF1, OA, kappa)
#   python tools/test.py configs/fusionvit/mask2former_oemsar.py CKPT \
#       --cfg-options modalities=[sar]                     (the contest's figure)
#   python tools/test.py configs/fusionvit/mask2former_oemsar.py CKPT \
#       --cfg-options modalities=[sar] test_dataloader.dataset.split=test \
#       test_dataloader.dataset.region_split=None test_evaluator.format_only=True \
#       test_evaluator.output_dir=work_dirs/oemsar_test   (predict test/, codes 1..8)
# (the stock `mmseg/.mim/tools/{train,test}.py` run the same config)
_base_ = ['../_base_/datasets/oemsar.py']
