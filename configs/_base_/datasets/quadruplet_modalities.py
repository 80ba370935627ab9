# The one declaration of the quadruplet LULC modalities (Sentinel-1 VV/VH in dB,
# Sentinel-2 B2/B3/B4/B8, DEM, Dynamic World map), shared by the LULC and pretraining
# dataset layers; `modalities` is the active subset.
modality_specs = [
    dict(name='s1', channels=2, norm='quadruplet_s1', units='db'),
    dict(name='s2', channels=4, norm='quadruplet_s2', units='reflectance_10000'),
    dict(name='dem', channels=1, norm='quadruplet_dem', units='metres'),
    dict(name='dw', channels=1, kind='categorical', num_classes=9, norm=None,
         units='classes'),
]
modalities = ['s1', 's2', 'dem', 'dw']
