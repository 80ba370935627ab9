# Fill-in-then-segment (GEMMNet-style): a frozen MultiMAE reconstructs every missing
# pixel that another modality observes, then the FULL-modality segmenter (trained
# without random modality combination) segments the completed input. The wrapper is
# a backbone, so training, tools/test.py (--all-subsets), tools/infer.py and the APIs
# run it unchanged; it fills in at inference only (`in_training=True` also in training).
#
#   python tools/train.py configs/fusionvit/multimae_dfc2023.py                  # generator
#   python tools/train.py configs/fusionvit/mask2former_dfc2023_semantic_wo-random.py
#   python tools/test.py configs/fusionvit/mask2former_dfc2023_semantic_fillin.py \
#       work_dirs/mask2former_dfc2023_semantic_wo-random/iter_20000.pth --all-subsets \
#       --cfg-options model.backbone.generator_checkpoint=work_dirs/multimae_dfc2023/epoch_400.pth
#
# The segmenter checkpoint (keys backbone.*) loads into the wrapped backbone. The
# generator is built from `generator` (this MultiMAE config; `None`: the config stored
# in the checkpoint) and must match its checkpoint. Keys such as model.backbone.depth
# (e.g. from configs/demo/cpu_preset.py) reach the segmenter backbone, not the generator.
_base_ = ['./mask2former_dfc2023_semantic_wo-random.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='FillInBackbone',
        backbone={{_base_.model.backbone}},
        generator='{{ fileDirname }}/multimae_dfc2023.py',
        generator_checkpoint='work_dirs/multimae_dfc2023/epoch_400.pth',
        in_training=False))
