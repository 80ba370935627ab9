# Modality self-distillation (DIS2-style) over mask2former_dfc2023_semantic.py: in
# each training step the full-input pass (same weights, no gradient) teaches the
# random-subset pass that ModalityDropoutHook draws. See docs/advanced_guides/pretraining.md,
# "Modality self-distillation".
#
#   python tools/train.py configs/fusionvit/mask2former_dfc2023_semantic_distill.py \
#       --cfg-options model.distill.weight=0.5 "model.distill.targets=[features,logits]"
# weight: multiplies loss_distill (0 = off, no teacher pass); targets: 'features'
# (the backbone's fusion-token maps, MSE) and/or 'logits' (the head's per-pixel
# class distribution, KL(teacher || student)).
_base_ = ['./mask2former_dfc2023_semantic.py']

model = dict(type='SelfDistillEncoderDecoder', distill=dict(weight=1.0, targets=['features']))
