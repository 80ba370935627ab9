# ISPRS Potsdam, optical (IR-R-G built from the RGBIR tiles) + nDSM, missing-modality
# protocol of GEMMNet/DIS2: as mask2former_vaihingen.py on the Potsdam release.
#
#   python tools/convert_isprs.py potsdam RELEASE data/potsdam --whole-tiles val
#   python tools/train.py configs/fusionvit/mask2former_potsdam.py
#   python tools/isprs_protocol.py configs/fusionvit/mask2former_potsdam.py CKPT --reference
_base_ = ['../_base_/datasets/isprs.py']

num_queries = 6
model = dict(decode_head=dict(num_queries=num_queries))
data_root = 'data/potsdam/'  # the loops move the datasets here
train_dataloader = dict(dataset=dict(type='ISPRSPotsdamMultimodal'))
val_dataloader = dict(dataset=dict(type='ISPRSPotsdamMultimodal'))
test_dataloader = val_dataloader
