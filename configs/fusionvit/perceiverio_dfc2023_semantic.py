# PerceiverIO-style baseline (latent array + local 3-D conv, docs/advanced_guides/backbone.md): the
# FusionViT backbone of mask2former_dfc2023_semantic.py swapped for a ViT-T-sized
# PerceiverIO (D = 192, 3 heads, 128 latents, 12 latent blocks). Neck, head, data,
# schedule and random modality combination are unchanged; the CPU preset
# (configs/demo/cpu_preset.py) applies as is (depth = latent blocks).
_base_ = ['./mask2former_dfc2023_semantic.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='PerceiverIO',
        **_base_.vit_t,  # ViT-T scale (depth = latent blocks): ../_base_/models/fusionvit_t.py
        **_base_.patch_dropout,
        modality_specs={{_base_.modality_specs}},
        img_size={{_base_.crop_size}},
        num_latents=128,
        local_dilations=(1, 2),
        query_local_features=True,
        drop_path_rate=0.1))
# learned latents and queries get no weight decay, like FusionViT's fusion tokens
embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys=dict(latents=embed_multi, output_query=embed_multi, null_key=embed_multi,
                         modality_embed=embed_multi)))
