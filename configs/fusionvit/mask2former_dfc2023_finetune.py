# Fine-tune the MultiMAE-pretrained FusionViT-T for DFC2023 building instances.
#
#   python tools/train.py configs/fusionvit/multimae_dfc2023.py            # pretrain
#   python tools/train.py configs/fusionvit/mask2former_dfc2023_finetune.py
#
# Loads the `backbone.` part of the pretraining checkpoint (decoders and the
# contrastive head are dropped) and trains the backbone at 0.1x the learning rate
# (paper). Another checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH
# (a top-level `pretrained=` override would not reach the model).
_base_ = ['./mask2former_dfc2023.py']

pretrained = 'work_dirs/multimae_dfc2023/epoch_400.pth'

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
