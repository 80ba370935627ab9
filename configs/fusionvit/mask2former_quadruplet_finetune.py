# Fine-tune the MultiMAE-pretrained FusionViT-T for quadruplet land-use / land-cover.
#
#   python tools/train.py configs/fusionvit/multimae_quadruplet.py         # pretrain
#   python tools/train.py configs/fusionvit/mask2former_quadruplet_finetune.py
#
# Loads the `backbone.` part of the pretraining checkpoint and trains the backbone
# at 0.1x the learning rate (paper). Another checkpoint:
# --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['./mask2former_quadruplet.py']

pretrained = 'work_dirs/multimae_quadruplet/epoch_400.pth'

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

# Merged into the base custom_keys. The base's longer 'fusion_tokens' key wins over
# 'backbone' for backbone.fusion_tokens (mmengine picks the longest matching key),
# so it repeats the multiplier (no weight decay on the tokens, as in the base).
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'fusion_tokens': dict(lr_mult=0.1, decay_mult=0.0),
        }))
