# MultiMAE reconstruction + cross-modal contrastive pretraining on Quadruplet LULC.
# See multimae_dfc2023_contrastive.py for the contrastive head.
_base_ = ['./multimae_quadruplet.py']

model = dict(
    contrastive_head=dict(
        type='CrossModalContrastiveHead',
        modality_specs={{_base_.modality_specs}},
        in_dims={{_base_.embed_dims}},
        num_heads=3,
        proj_dims=128,
        proj_hidden_dims=512,
        variant='infonce',  # or 'dino' (research code: weight 0.3)
        temperature=0.1,
        loss_weight=1.0))

# no weight decay on the learned return tokens (merged into the base custom_keys)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'contrastive_head.modality_tokens': dict(decay_mult=0.0),
            'contrastive_head.fusion_token': dict(decay_mult=0.0),
        }))
