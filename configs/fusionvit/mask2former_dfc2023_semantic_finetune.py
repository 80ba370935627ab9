# Fine-tune the MultiMAE-pretrained FusionViT-T for DFC2023 building segmentation
# (semantic head; the low-label study's recipe for its MultiMAE initialisation).
#
#   python tools/train.py configs/fusionvit/multimae_dfc2023.py            # pretrain
#   python tools/train.py configs/fusionvit/mask2former_dfc2023_semantic_finetune.py
#
# Loads the `backbone.` part of the pretraining checkpoint and trains the backbone at
# 0.1x the learning rate (paper). Another checkpoint:
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['./mask2former_dfc2023_semantic.py']

pretrained = 'work_dirs/multimae_dfc2023/epoch_400.pth'

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

# Merged into the base custom_keys; the base's longer 'fusion_tokens' key wins for the
# tokens, so it repeats the multiplier (no weight decay on them, as in the base).
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'fusion_tokens': dict(lr_mult=0.1, decay_mult=0.0),
        }))
