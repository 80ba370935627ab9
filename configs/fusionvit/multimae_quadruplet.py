# MultiMAE pretraining of FusionViT-T on Quadruplet LULC (S1 + S2 + DEM + Dynamic
# World), reconstruction only: L2 for S1/S2, L1 for the DEM, cross-entropy over the 9
# Dynamic World classes; masked and available patches only. The LULC labels are not
# used. Fine-tune with mask2former_quadruplet_finetune.py.
#
#   python tools/train.py configs/fusionvit/multimae_quadruplet.py
_base_ = [
    '../_base_/models/multimae_fusionvit.py',
    '../_base_/datasets/quadruplet_pretrain.py',
    '../_base_/schedules/multimae_400e.py',
]

model = dict(
    backbone=dict(modality_specs={{_base_.modality_specs}}),
    head=dict(
        modality_specs={{_base_.modality_specs}},
        losses=dict(
            s1=dict(type='l2', weight=1.0),
            s2=dict(type='l2', weight=1.0),
            dem=dict(type='l1', weight=1.0),
            dw=dict(type='ce', weight=1.0))))
