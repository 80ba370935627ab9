# Modality self-distillation over mask2former_dfc2023.py (instance): in each training
# step the full-input pass (same weights, no gradient) teaches the random-subset pass
# on the backbone's fusion-token maps ('features', the only target of the instance
# model). See docs/advanced_guides/pretraining.md, "Modality self-distillation".
#
#   python tools/train.py configs/fusionvit/mask2former_dfc2023_distill.py \
#       --cfg-options model.distill.weight=0.5
_base_ = ['./mask2former_dfc2023.py']

model = dict(type='SelfDistillMask2Former', distill=dict(weight=1.0, targets=['features']))
