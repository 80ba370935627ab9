# MultiMAE reconstruction + cross-modal contrastive pretraining on DFC2023 (paper eq. 5-6).
#
# A return token per modality and one for fusion are pooled by one cross-attention
# layer; InfoNCE (cosine, temperature 0.1) pulls each sample's modality vector towards
# its fusion vector against the other samples of the batch. For the negatives-free
# variant of the research code use variant='dino' and loss_weight=0.3.
_base_ = ['./multimae_dfc2023.py']

model = dict(
    contrastive_head=dict(
        type='CrossModalContrastiveHead',
        modality_specs={{_base_.modality_specs}},
        in_dims={{_base_.embed_dims}},
        num_heads=3,
        proj_dims=128,
        proj_hidden_dims=512,
        variant='infonce',  # or 'dino'
        temperature=0.1,
        loss_weight=1.0))

# no weight decay on the learned return tokens (merged into the base custom_keys)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'contrastive_head.modality_tokens': dict(decay_mult=0.0),
            'contrastive_head.fusion_token': dict(decay_mult=0.0),
        }))
