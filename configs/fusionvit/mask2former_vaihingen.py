# ISPRS Vaihingen, optical (IR-R-G) + nDSM, missing-modality protocol of GEMMNet/DIS2:
# mmseg Mask2Former with FusionViT-T, 6 queries, 512 px crops, slide inference on the
# whole test tiles; per-class F1, mF1 and mIoU over the five classes (clutter ignored).
#
#   python tools/convert_isprs.py vaihingen RELEASE data/vaihingen --whole-tiles val
#   python tools/train.py configs/fusionvit/mask2former_vaihingen.py
#   python tools/isprs_protocol.py configs/fusionvit/mask2former_vaihingen.py CKPT --reference
_base_ = ['../_base_/datasets/isprs.py']

num_queries = 6
model = dict(decode_head=dict(num_queries=num_queries))
