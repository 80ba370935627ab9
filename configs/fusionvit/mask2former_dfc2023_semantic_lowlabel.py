# Low-label fine-tuning: mask2former_dfc2023_semantic.py trained on a seeded 10 %
# of the training tiles, stratified by "building present or not" (LabelledSubset,
# incomplete_fusion/datasets/label_subset.py). Validation and test sets are whole.
#
#   python tools/train.py configs/fusionvit/mask2former_dfc2023_semantic_lowlabel.py \
#       --cfg-options train_dataloader.dataset.fraction=0.25 train_dataloader.dataset.seed=1
# A count of tiles instead: train_dataloader.dataset.fraction=None
#   train_dataloader.dataset.count=50. From a MultiMAE checkpoint (pretrained with the
# same backbone sizes): model.backbone.init_cfg.type=Pretrained
#   model.backbone.init_cfg.checkpoint=PATH model.backbone.init_cfg.prefix=backbone.
# Any other config: incomplete_fusion.datasets.label_subset.wrap_train_dataset(cfg, ...),
# or `python tools/low_label_study.py --config ...` for the whole learning curve.
_base_ = ['./mask2former_dfc2023_semantic.py']

# the train set wrapped: exactly one of fraction / count; stratify=False: uniform
train_dataloader = dict(dataset=dict(
    _delete_=True, type='LabelledSubset', fraction=0.1, count=None, seed=0, stratify=True,
    dataset={{_base_.train_dataloader.dataset}}))
