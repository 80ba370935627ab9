"""Pretraining end to end through tools/train.py; the checkpoint feeds fine-tuning."""
import glob
import json
import math
import os.path as osp
import uuid

import pytest
import torch
from mmengine.config import Config

from incomplete_fusion.testing.tiny import TINY_BACKBONE, load_tool, make_tiny_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs', 'fusionvit')
train_tool = load_tool('train')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: extra intra-op threads only cost."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_pretrain_config(out_dir, name: str, data_root: str, epochs: int = 2) -> str:
    """The shipped pretraining config with the backbone of the tiny Mask2Former configs
    (so the checkpoint fits them), 64x64 tiles, a few iterations."""
    cfg = Config.fromfile(osp.join(CONFIGS, name + '.py'))
    cfg.merge_from_dict({
        'model.backbone': TINY_BACKBONE,
        'model.head': dict(in_dims=32, decoder_dims=32, decoder_heads=4),
    })
    if cfg.model.get('contrastive_head'):
        cfg.model.contrastive_head.update(in_dims=32, num_heads=2, proj_dims=16,
                                          proj_hidden_dims=32)
    cfg.data_root = data_root
    pipeline = cfg.train_dataloader.dataset.pipeline
    cfg.train_dataloader.dataset.pipeline = [t for t in pipeline if t.type != 'MultimodalResize']
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=epochs)]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=epochs, max_keep_ckpts=1)
    cfg.log_processor.window_size = 1
    path = osp.join(out_dir, f'tiny_{name}.py')
    cfg.dump(path)
    return path


def fresh_run() -> list:
    """``--cfg-options`` giving an in-process run its own mmengine logger/visualizer."""
    name = f'test_{uuid.uuid4().hex[:8]}'
    return [f'experiment_name={name}', f'visualizer.name={name}']


def scalars(work_dir):
    rows = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


@pytest.fixture(scope='module')
def pretrained(dfc2023_root, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('pretrain')
    config = tiny_pretrain_config(str(tmp), 'multimae_dfc2023_contrastive', dfc2023_root)
    work_dir = str(tmp / 'work')
    train_tool.main([config, '--work-dir', work_dir, '--cfg-options', *fresh_run()])
    return dict(work_dir=work_dir, checkpoint=osp.join(work_dir, 'epoch_2.pth'))


def test_pretraining_runs_through_train_tool(pretrained):
    rows = [r for r in scalars(pretrained['work_dir']) if 'loss' in r]
    assert len(rows) == 4  # 4 training tiles, batch 2, 2 epochs
    for row in rows:
        for key in ('loss_rec_rgb', 'loss_rec_sar', 'loss_rec_dsm', 'loss_contrast'):
            assert math.isfinite(row[key]) and row[key] > 0, (key, row)
    state = torch.load(pretrained['checkpoint'], map_location='cpu', weights_only=False)
    keys = state['state_dict'].keys()
    assert state['meta']['epoch'] == 2
    assert any(k.startswith('backbone.layers.') for k in keys)
    assert any(k.startswith('head.decoders.dsm.') for k in keys)
    assert any(k.startswith('contrastive_head.pool.') for k in keys)


def test_quadruplet_pretraining_config_builds_and_steps(quadruplet_root, tmp_path):
    """The categorical (Dynamic World) decoder trains with cross-entropy."""
    import incomplete_fusion  # noqa: F401
    from mmengine.dataset import default_collate
    from mmengine.registry import init_default_scope

    from incomplete_fusion.binding import bind, modality_set_of
    from incomplete_fusion.engine.data_root import rebase_data_root, stale_data_root
    from incomplete_fusion.registry import DATASETS, MODELS
    from incomplete_fusion.utils import load_config
    cfg = load_config(tiny_pretrain_config(str(tmp_path), 'multimae_quadruplet_contrastive',
                                           quadruplet_root))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    model.init_weights()
    # outside a Runner: what the loops do, rebase data_root and bind the run's modalities
    dataset = DATASETS.build(rebase_data_root(cfg.train_dataloader.dataset, stale_data_root(cfg)))
    bind(modality_set_of(cfg), model, dataset)
    batch = model.data_preprocessor(default_collate([dataset[0], dataset[1]]), True)
    assert batch['inputs'].shape[1] == 8
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_rec_s1', 'loss_rec_s2', 'loss_rec_dem', 'loss_rec_dw',
                           'loss_contrast'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.head.decoders['dw'].pred.weight.grad.abs().sum() > 0


def test_checkpoint_loads_into_finetune_config_and_finetunes(pretrained, dfc2023_root,
                                                              tmp_path):
    import incomplete_fusion  # noqa: F401
    from mmengine.registry import init_default_scope

    from incomplete_fusion.registry import MODELS
    from incomplete_fusion.utils import load_config
    for name in ('mask2former_dfc2023_finetune', 'mask2former_quadruplet_finetune',
                 'mask2former_dfc2023_semantic_finetune'):
        shipped = load_config(osp.join(CONFIGS, name + '.py'))
        assert shipped.model.backbone.init_cfg == dict(
            type='Pretrained', checkpoint=shipped.pretrained, prefix='backbone.')
        assert shipped.pretrained.startswith('work_dirs/multimae_' + name.split('_')[1])
        custom_keys = shipped.optim_wrapper.paramwise_cfg.custom_keys
        assert custom_keys['backbone'].lr_mult == custom_keys['fusion_tokens'].lr_mult == 0.1

    config = make_tiny_config('mask2former_dfc2023_finetune', dfc2023_root, str(tmp_path))
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg.checkpoint = pretrained['checkpoint']
    cfg.dump(config)

    # every backbone weight comes from the checkpoint, nothing is left over
    cfg = load_config(config)
    init_default_scope(cfg.default_scope)
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    state = torch.load(pretrained['checkpoint'], map_location='cpu', weights_only=False)
    pretrained_backbone = {k[len('backbone.'):]: v for k, v in state['state_dict'].items()
                           if k.startswith('backbone.')}
    own = backbone.state_dict()
    missing = sorted(set(own) - set(pretrained_backbone))
    unexpected = sorted(set(pretrained_backbone) - set(own))
    print('unexpected backbone keys:', unexpected)
    assert not missing and not unexpected, (missing, unexpected)
    for key, value in own.items():
        assert torch.equal(value, pretrained_backbone[key]), f'{key} was not loaded'

    # the backbone (fusion tokens included) trains at 0.1x the learning rate
    from mmengine.optim import build_optim_wrapper
    detector = MODELS.build(cfg.model)
    optim_wrapper = build_optim_wrapper(detector, cfg.optim_wrapper)
    base_lr = cfg.optim_wrapper.optimizer.lr
    backbone_params = {id(p) for p in detector.backbone.parameters()}
    groups = optim_wrapper.optimizer.param_groups
    lrs = {id(p): g['lr'] for g in groups for p in g['params']}
    assert all(lrs[i] == pytest.approx(0.1 * base_lr) for i in backbone_params)
    assert lrs[id(detector.backbone.fusion_tokens)] == pytest.approx(0.1 * base_lr)
    assert any(lr == pytest.approx(base_lr) for i, lr in lrs.items() if i not in backbone_params)

    # and fine-tuning runs, starting from those weights
    work_dir = str(tmp_path / 'work')
    train_tool.main([config, '--work-dir', work_dir, '--cfg-options', *fresh_run()])
    finetuned = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu',
                           weights_only=False)['state_dict']
    losses = [r['loss'] for r in scalars(work_dir) if 'loss' in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    # small steps from the pretrained weights, not a fresh initialisation
    weight = 'layers.0.attn.qkv.weight' if 'layers.0.attn.qkv.weight' in own else next(
        k for k in own if k.endswith('weight') and own[k].dim() == 2)
    delta = (finetuned['backbone.' + weight] - pretrained_backbone[weight]).abs().max()
    assert 0 < delta < 1e-2
