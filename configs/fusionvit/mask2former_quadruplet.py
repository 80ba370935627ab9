# Land-use / land-cover mapping on the quadruplet dataset (Sentinel-1, Sentinel-2,
# DEM, Dynamic World map): mmseg Mask2Former with FusionViT-T, 9 queries, the
# paper's 7 merged classes. The layers: configs/_base_/{models,schedules,datasets}.
_base_ = ['../_base_/datasets/quadruplet.py']

num_queries = 9
model = dict(decode_head=dict(num_queries=num_queries))
