# MultiMAE pretraining of FusionViT-T on DFC2023 Track 2 (RGB + SAR + DSM),
# reconstruction only: L2 for RGB/SAR, L1 for the DSM, on masked and available
# patches only. Fine-tune with mask2former_dfc2023_finetune.py.
#
#   python tools/train.py configs/fusionvit/multimae_dfc2023.py
# (or the stock `mmpretrain/.mim/tools/train.py`)
_base_ = [
    '../_base_/models/multimae_fusionvit.py',
    '../_base_/datasets/dfc2023_pretrain.py',
    '../_base_/schedules/multimae_400e.py',
]

model = dict(
    backbone=dict(modality_specs={{_base_.modality_specs}}),
    head=dict(
        modality_specs={{_base_.modality_specs}},
        losses=dict(
            rgb=dict(type='l2', weight=1.0),
            sar=dict(type='l2', weight=1.0),
            dsm=dict(type='l1', weight=1.0))))
# no contrastive head here: see multimae_dfc2023_contrastive.py
