# The one declaration of DFC2023 Track 2's modalities, shared by the instance,
# semantic and pretraining dataset layers: `modality_specs` (all, in channel order)
# and `modalities` (the active subset; `--cfg-options modalities=[sar,dsm]` under any
# entry point: the loops bind the final value to every component).
modality_specs = [
    dict(name='rgb', channels=3, norm='dfc2023_rgb', units='dn8'),
    dict(name='sar', channels=1, norm='dfc2023_sar', units='amplitude'),
    dict(name='dsm', channels=1, norm='tile_zscore', units='metres'),
]
modalities = ['rgb', 'sar', 'dsm']
