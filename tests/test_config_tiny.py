"""The tiny training configs of :mod:`incomplete_fusion.testing.tiny` (64x64, depth 4, dims 32)."""
from mmengine.config import Config

from incomplete_fusion.testing.tiny import SIZE, make_tiny_config


def test_tiny_config_is_the_shipped_config_with_smaller_sizes(tmp_path, dfc2023_root):
    """The dumped tiny config keeps the modality variables, the loops and the new data_root."""
    path = make_tiny_config('mask2former_dfc2023', dfc2023_root, str(tmp_path))
    cfg = Config.fromfile(path)
    assert cfg.modalities == ['rgb', 'sar', 'dsm']
    assert cfg.model.backbone.type == 'FusionViT' and cfg.model.backbone.embed_dims == 32
    assert cfg.data_root == dfc2023_root
    assert (cfg.train_cfg.type, cfg.val_cfg.type, cfg.test_cfg.type) == (
        'ModalityIterBasedTrainLoop', 'ModalityValLoop', 'ModalityTestLoop')
    resizes = [step for key in ('train_dataloader', 'test_dataloader')
               for step in cfg[key].dataset.pipeline if step.type == 'MultimodalDetResize']
    assert len(resizes) == 2 and all(tuple(r.scale) == SIZE for r in resizes)
