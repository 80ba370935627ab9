"""Fill-in-then-segment: a frozen MultiMAE fills the gaps, the segmenter sees the result.

Tiny models (dims 32, depth 2, 32 px) with random weights: the tests check where
values come from, not how good they are.
"""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import load_state_dict
from torch import nn

import incomplete_fusion  # noqa: F401  (registers components)
from incomplete_fusion.registry import MODELS
from incomplete_fusion.testing.tiny import fresh_run, make_tiny_config
from test_pretrain_multimae import one_thread  # noqa: F401  (autouse: tiny models, one thread)

SPECS = [
    dict(name='rgb', channels=3),
    dict(name='sar', channels=1),
    dict(name='dw', channels=1, kind='categorical', num_classes=4),
]
SLICES = {'rgb': slice(0, 3), 'sar': slice(3, 4), 'dw': slice(4, 5)}
PATCH, SIZE, DIMS = 8, 32, 32
SEGMENTER = dict(type='FusionViT', modality_specs=SPECS, img_size=SIZE, patch_size=PATCH,
                 embed_dims=DIMS, depth=2, num_heads=2, out_indices=(0, 1))


def generator_cfg(specs=SPECS, depth=2):
    return dict(
        type='MultiMAE',
        data_preprocessor=dict(type='BaseDataPreprocessor'),  # builds in any default scope
        backbone=dict(type='FusionViT', modality_specs=specs, img_size=SIZE, patch_size=PATCH,
                      embed_dims=DIMS, depth=depth, num_heads=2, out_indices=(depth - 1, )),
        head=dict(type='MultiModalReconstructionHead', modality_specs=specs, patch_size=PATCH,
                  in_dims=DIMS, decoder_dims=32, decoder_depth=1, decoder_heads=4))


def save_generator(path, cfg=None, meta=None):
    """A MultiMAE checkpoint as tools/train.py writes it (``state_dict`` + ``meta``)."""
    torch.manual_seed(1)
    model = MODELS.build(cfg or generator_cfg())
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict(), meta=meta or {}), str(path))
    return model


@pytest.fixture(scope='module')
def generator_ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp('gen') / 'multimae.pth'
    return str(path), save_generator(path).eval()


@pytest.fixture(scope='module')
def wrapper(generator_ckpt):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER, generator=generator_cfg(),
                              generator_checkpoint=generator_ckpt[0]))
    model.init_weights()
    return model.eval()


def batch(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, 5, SIZE, SIZE, generator=g)
    x[:, 4] = torch.randint(0, 4, (b, SIZE, SIZE), generator=g).float()
    return x


def capture_segmenter_input(model):
    seen = []
    handle = model.backbone.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    return seen, handle


def test_only_gaps_change_and_they_hold_the_reconstruction(wrapper, generator_ckpt):
    """Per sample: sar missing (0), an rgb cloud hole + dw nodata patch (1), complete (2)."""
    x = batch()
    x[0, SLICES['sar']] = float('nan')
    x[1, SLICES['rgb'], 4:20, 8:24] = float('nan')
    x[1, SLICES['dw'], 0:8, 0:8] = float('nan')
    filled = wrapper.fill_in(x)
    gap = torch.isnan(x)
    assert torch.equal(filled[~gap], x[~gap])  # observed values bit-identical
    assert torch.isfinite(filled).all()
    assert torch.equal(filled[2], x[2])  # complete sample untouched
    # the gaps hold the generator's reconstruction of the incomplete samples; fill_in runs
    # the generator on exactly these two samples, so this is the same call (same bits)
    rec = generator_ckpt[1].reconstruct(x[:2])
    torch.testing.assert_close(filled[0, SLICES['sar']], rec['sar'][0])
    torch.testing.assert_close(filled[1, :3, 4:20, 8:24], rec['rgb'][1, :, 4:20, 8:24])
    dw = rec['dw'][1].argmax(0).float()  # categorical: the argmax class
    assert torch.equal(filled[1, 4, 0:8, 0:8], dw[0:8, 0:8])


def test_a_pixel_no_modality_observes_stays_missing(wrapper):
    x = batch(1)
    x[:, :, :, 24:] = float('nan')  # e.g. batch padding
    x[:, SLICES['sar'], :8] = float('nan')  # sar gap that rgb/dw observe
    filled = wrapper.fill_in(x)
    assert torch.isnan(filled[..., 24:]).all()
    assert torch.isfinite(filled[..., :24]).all()


def test_segmenter_sees_no_gap_at_inference_and_the_raw_input_in_training(generator_ckpt):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER, generator=generator_cfg(),
                              generator_checkpoint=generator_ckpt[0]))
    x = batch(2)
    x[:, SLICES['rgb']] = float('nan')  # a whole modality missing
    seen, handle = capture_segmenter_input(model)
    model.eval()(x)
    assert torch.isfinite(seen[-1]).all()
    model.train()
    assert not model.generator.training  # frozen, always in eval mode
    model(x)
    assert torch.isnan(seen[-1][:, SLICES['rgb']]).all()  # default: inference only
    model.in_training = True
    model(x)
    assert torch.isfinite(seen[-1]).all()
    handle.remove()
    assert not any(p.requires_grad for p in model.generator.parameters())


def test_mismatched_declarations_raise(generator_ckpt, tmp_path):
    other = [dict(name='rgb', channels=3), dict(name='dsm', channels=1),
             dict(name='dw', channels=1, kind='categorical', num_classes=4)]
    path = tmp_path / 'other.pth'
    save_generator(path, generator_cfg(other))
    with pytest.raises(ValueError, match='same modality_specs'):
        MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER,
                          generator=generator_cfg(other), generator_checkpoint=str(path)))


def test_checkpoint_errors_say_what_to_do(generator_ckpt, tmp_path):
    with pytest.raises(FileNotFoundError, match='generator_checkpoint'):
        MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER, generator=generator_cfg(),
                          generator_checkpoint=str(tmp_path / 'none.pth')))
    with pytest.raises(ValueError, match='generator=None'):  # architecture differs
        MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER,
                          generator=generator_cfg(depth=3), generator_checkpoint=generator_ckpt[0]))
    with pytest.raises(ValueError, match='stored'):  # no config in the checkpoint
        MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER, generator=None,
                          generator_checkpoint=generator_ckpt[0]))


def test_generator_from_the_checkpoint_config_and_preset_keys_reach_the_segmenter(tmp_path):
    from mmengine.config import Config
    cfg = generator_cfg(depth=3)
    path = tmp_path / 'with_cfg.pth'
    trained = save_generator(path, cfg, meta=dict(cfg=Config(dict(model=cfg)).pretty_text))
    model = MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER, generator=None,
                              generator_checkpoint=str(path), depth=1, out_indices=(0, )))
    assert len(model.generator.backbone.layers) == 3 and len(model.backbone.layers) == 1
    for key, value in trained.state_dict().items():
        assert torch.equal(model.generator.state_dict()[key], value), key


def test_generator_weights_survive_init_and_a_plain_segmenter_checkpoint_loads(generator_ckpt):
    trained = generator_ckpt[1].state_dict()
    parent = nn.Module()  # stands for the segmentor: its backbone is the wrapper
    parent.backbone = MODELS.build(dict(type='FillInBackbone', backbone=SEGMENTER,
                                        generator=generator_cfg(),
                                        generator_checkpoint=generator_ckpt[0]))
    parent.backbone.init_weights()  # as the runner does before training
    for key, value in trained.items():
        assert torch.equal(parent.backbone.generator.state_dict()[key], value), key
    torch.manual_seed(5)
    plain = MODELS.build(SEGMENTER)
    plain.init_weights()
    state = {f'backbone.{k}': v for k, v in plain.state_dict().items()}  # plain segmenter keys
    load_state_dict(parent, state, strict=True)  # mmengine's loader; strict: nothing missing
    for key, value in plain.state_dict().items():
        assert torch.equal(parent.backbone.backbone.state_dict()[key], value), key
    for key, value in trained.items():
        assert torch.equal(parent.backbone.generator.state_dict()[key], value), key
    # and the fill-in model's own checkpoint loads back as well
    parent.load_state_dict(parent.state_dict(), strict=True)


# ------------------------------------------------------------ through the tools
TINY_GENERATOR = dict(img_size=(64, 64), embed_dims=32, depth=2, num_heads=2, out_indices=(1, ))


@pytest.fixture(scope='module')
def fillin_run(tmp_path_factory, dfc2023_root):
    """Tiny fill-in config (CPU-preset-like keys on model.backbone), a MultiMAE checkpoint
    of the DFC modalities and a plain w/o-random segmenter checkpoint (random weights)."""
    from mmengine.config import Config
    tmp = tmp_path_factory.mktemp('fillin')
    plain_path = make_tiny_config('mask2former_dfc2023_semantic_wo-random', dfc2023_root,
                                  str(tmp))
    path = make_tiny_config('mask2former_dfc2023_semantic_fillin', dfc2023_root, str(tmp))
    cfg = Config.fromfile(path)
    specs = [dict(s) for s in cfg.modality_specs]
    gen = generator_cfg(specs)
    gen['backbone'].update(TINY_GENERATOR, patch_size=16)
    gen['head'].update(patch_size=16)
    gen_ckpt = str(tmp / 'multimae.pth')
    save_generator(gen_ckpt, gen)
    cfg.model.backbone.generator = gen
    cfg.model.backbone.generator_checkpoint = gen_ckpt
    cfg.dump(path)
    torch.manual_seed(0)
    plain = MODELS.build(Config.fromfile(plain_path).model)
    plain.init_weights()
    seg_ckpt = str(tmp / 'segmenter.pth')
    torch.save(dict(state_dict=plain.state_dict(), meta={}), seg_ckpt)
    return dict(tmp=tmp, config=path, plain_config=plain_path, checkpoint=seg_ckpt)


def test_subset_evaluation_runs_with_fill_in(fillin_run):
    """SubsetTestLoop with the fill-in config and a plain segmenter checkpoint: with every
    modality there is nothing to fill, so that row equals the plain segmenter's."""
    from incomplete_fusion.evaluation.subset_eval import evaluate_subsets
    subsets = [['sar', 'dsm'], ['rgb', 'sar', 'dsm']]
    rows = {}
    for name in ('config', 'plain_config'):
        table = evaluate_subsets(fillin_run[name], fillin_run['checkpoint'],
                                 work_dir=str(fillin_run['tmp'] / name), subsets=subsets,
                                 cfg_options={'experiment_name': fresh_run()[0].split('=')[1]})
        rows[name] = dict(table.rows)
        assert osp.isfile(fillin_run['tmp'] / name / 'subset_eval.csv')
    full = ('rgb', 'sar', 'dsm')
    assert rows['config'][full] == pytest.approx(rows['plain_config'][full], abs=1e-9)


def test_scene_inference_runs_with_fill_in(fillin_run, tmp_path):
    """Scene API on a generated scene without rgb: the segmenter gets rgb filled in."""
    import rasterio
    from incomplete_fusion.apis import infer_scene, init_model
    from incomplete_fusion.testing import make_scene
    paths = make_scene(str(tmp_path / 'scene'), size=96, seed=5)
    model = init_model(fillin_run['config'], fillin_run['checkpoint'])
    seen, handle = capture_segmenter_input(model.backbone)
    out = tmp_path / 'pred.tif'
    result = infer_scene(model, {'rgb': None, 'sar': paths['sar'], 'dsm': paths['dsm']}, out,
                         tile_size=64, overlap=16, progress=False)
    handle.remove()
    assert result.missing == ('rgb', ) and seen
    for img in seen:  # rgb filled wherever sar or dsm observe the pixel
        observed = torch.isfinite(img[:, 3:]).all(1)
        assert torch.isfinite(img[:, :3]).all(1)[observed].all()
    with rasterio.open(out) as src:
        assert src.read(1).shape == (96, 96)


def test_config_root_is_the_wo_random_segmenter_with_the_multimae_generator():
    """One declaration for segmenter and generator; no random modality combination; the
    CPU preset's backbone keys reach the segmenter (the generator keeps its own)."""
    from mmengine.config import Config
    from incomplete_fusion.testing.tiny import CONFIG_DIR, REPO
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_dfc2023_semantic_fillin.py'))
    wrapper_cfg = cfg.model.backbone
    assert wrapper_cfg.type == 'FillInBackbone' and 'generator_checkpoint' in wrapper_cfg
    assert wrapper_cfg.backbone.type == 'FusionViT'
    specs = [dict(s) for s in cfg.modality_specs]
    assert [dict(s) for s in wrapper_cfg.backbone.modality_specs] == specs
    generator = Config.fromfile(wrapper_cfg.generator)
    assert generator.model.type == 'MultiMAE'
    assert [dict(s) for s in generator.model.backbone.modality_specs] == specs
    assert not cfg.get('custom_hooks')  # w/o random modality combination
    assert cfg.test_cfg.type == 'ModalityTestLoop'
    cfg.merge_from_dict(Config.fromfile(osp.join(REPO, 'configs/demo/cpu_preset.py')).to_dict())
    assert cfg.model.backbone.depth == 6 and cfg.model.backbone.backbone.type == 'FusionViT'
