"""Modality self-distillation: the hook and preprocessor hand the un-dropped inputs
exactly; the loss is zero for full-input students (same random draws as the
teacher, PatchDropout on); no gradient reaches the teacher; config errors; DDP."""
import glob
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from incomplete_fusion.apis import init_model
from incomplete_fusion.engine.hooks import ModalityDropoutHook
from incomplete_fusion.models.data_preprocessors.multimodal import (TEACHER_INPUTS,
                                                                    replayed_randomness)
from incomplete_fusion.models.segmentors.self_distillation import (feature_distance,
                                                                   parse_distill)
from incomplete_fusion.utils import load_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TESTS = osp.join(REPO, 'tests')
CONFIG = osp.join(REPO, 'configs/fusionvit/mask2former_dfc2023_semantic_distill.py')
NAME = 'mask2former_dfc2023_semantic_distill'
SIZE = 32
_ATTN = dict(embed_dims=32, num_heads=2)
_FFN = dict(embed_dims=32, feedforward_channels=32)
TINY = {
    'model.data_preprocessor.size': (SIZE, SIZE),
    # PatchDropout on (half the tokens): the teacher must replay the student's draws
    'model.backbone': dict(img_size=(SIZE, SIZE), embed_dims=16, depth=2, num_heads=2,
                           out_indices=(1, ), drop_path_rate=0.1, patch_keep_ratio=0.5),
    'model.neck': dict(in_channels=16, out_channels=16, num_inputs=1),
    'model.decode_head': dict(
        in_channels=[16] * 4, feat_channels=32, out_channels=32,
        pixel_decoder=dict(
            encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=_ATTN, ffn_cfg=_FFN)),
            positional_encoding=dict(num_feats=16)),
        positional_encoding=dict(num_feats=16),
        transformer_decoder=dict(
            num_layers=1, layer_cfg=dict(self_attn_cfg=_ATTN, cross_attn_cfg=_ATTN,
                                         ffn_cfg=_FFN)),
        train_cfg=dict(num_points=64)),
}


def tiny_model(targets=('features', ), weight=1.0):
    torch.manual_seed(0)
    cfg = load_config(CONFIG, dict(TINY, **{'model.distill': dict(weight=weight,
                                                                  targets=list(targets))}))
    return init_model(cfg, None).train()


def batch(n=3, size=SIZE - 8):
    """Samples smaller than the model size (the preprocessor pads them with NaN);
    the first has a cloud hole in rgb, as real data does."""
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(5, size, size, generator=g) for _ in range(n)]
    inputs[0][:3, :6, :6] = float('nan')
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        s.gt_sem_seg = PixelData(data=(torch.rand(1, size, size, generator=g) > 0.6).long())
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)  # NaN-aware, bit-exact comparison


def hook_for(model, seed=3):
    hook = ModalityDropoutHook(seed=seed)
    hook.bind_modalities(model.data_preprocessor.modality_set)
    return hook


def preprocessed(model, data, kept=None):
    """Hook (or an explicit per-sample ``kept`` list) + data preprocessor, as a train step."""
    data = dict(data, inputs=[t.clone() for t in data['inputs']])
    if kept is None:
        hook_for(model).before_train_iter(SimpleNamespace(iter=0, seed=0, model=model), 0, data)
    else:
        data[TEACHER_INPUTS] = [t.clone() for t in data['inputs']]
        for sample, keep in zip(data['inputs'], kept):
            model.data_preprocessor.modality_set.keep_only(sample, keep)
    return model.data_preprocessor(data, True)


def test_hook_and_preprocessor_hand_the_undropped_inputs_bit_exactly():
    model = tiny_model()
    data = batch()
    originals = [t.clone() for t in data['inputs']]
    hook = hook_for(model)
    hook.before_train_iter(SimpleNamespace(iter=0, seed=0, model=model), 0, data)
    assert len(data[TEACHER_INPUTS]) == 3
    for teacher, original in zip(data[TEACHER_INPUTS], originals):
        assert torch.equal(bits(teacher), bits(original))
    assert any(len(k) < 3 for k in hook.last_subsets)  # the student lost something

    out = model.data_preprocessor(data, True)
    student, teacher = out['inputs'], out[TEACHER_INPUTS]
    assert teacher.shape == student.shape == (3, 5, SIZE, SIZE)
    for i, original in enumerate(originals):
        n = original.shape[-1]
        assert torch.equal(bits(teacher[i, :, :n, :n]), bits(original))
        assert torch.isnan(teacher[i, :, n:]).all() and torch.isnan(teacher[i, :, :, n:]).all()
        # the student is the teacher with whole modalities NaN-ed, nothing else
        same = torch.isnan(student[i]) | (bits(student[i]) == bits(teacher[i]))
        assert same.all()


def test_no_teacher_inputs_unless_the_model_asks():
    for model in (tiny_model(weight=0.0),
                  SimpleNamespace(wants_full_inputs=False), None):
        data = batch()
        hook = ModalityDropoutHook(seed=3)
        hook.bind_modalities(tiny_model().data_preprocessor.modality_set)
        hook.before_train_iter(SimpleNamespace(iter=0, seed=0, model=model), 0, data)
        assert TEACHER_INPUTS not in data


def test_loss_is_exactly_zero_when_the_student_sees_the_full_input():
    model = tiny_model(targets=('features', 'logits'))
    all3 = ('rgb', 'sar', 'dsm')
    out = preprocessed(model, batch(), kept=[all3] * 3)
    losses = model.loss(out['inputs'], out['data_samples'], out[TEACHER_INPUTS])
    assert losses['loss_distill'].item() == 0.0
    assert torch.isfinite(losses['decode.loss_mask'])

    # a mixed batch: full-input samples match the teacher (to rounding: the batch
    # differs, so kernels may sum in another order), PatchDropout and drop path
    # replaying the same draws; the loss masks them out, so it stays exactly zero ...
    out = preprocessed(model, batch(), kept=[all3, ('sar', ), all3])
    student, teacher = out['inputs'], out[TEACHER_INPUTS]
    torch.manual_seed(5)
    with torch.no_grad(), replayed_randomness():
        t_feats = model.backbone(teacher)
    s_feats = model.backbone(student)
    dist = feature_distance(s_feats, t_feats)
    assert dist[0] < 1e-10 and dist[2] < 1e-10 and dist[1] > 1e-3
    # ... which needs the replay: without it, the draws differ
    torch.manual_seed(5)
    with torch.no_grad():
        t_plain = model.backbone(teacher)
    assert feature_distance(model.backbone(student), t_plain)[0] > 1e-3
    # the loss averages over the samples that lost a modality (one here)
    torch.manual_seed(5)
    losses = model.loss(student, out['data_samples'], teacher)
    assert losses['loss_distill'].item() > 0


def test_a_run_without_teacher_inputs_says_where_they_come_from():
    model = tiny_model()
    out = model.data_preprocessor(batch(), True)  # no hook ran
    with pytest.warns(UserWarning, match='ModalityDropoutHook'):
        losses = model.loss(out['inputs'], out['data_samples'])
    assert losses['loss_distill'].item() == 0.0


def test_gradient_never_reaches_the_teacher():
    model = tiny_model(targets=('features', ), weight=2.0)
    out = preprocessed(model, batch(), kept=[('rgb', ), ('sar', 'dsm'), ('dsm', )])
    student = out['inputs'].clone().requires_grad_(True)
    teacher = out[TEACHER_INPUTS].clone().requires_grad_(True)
    torch.manual_seed(7)
    loss = model.loss(student, out['data_samples'], teacher)['loss_distill']
    params = [p for p in model.backbone.parameters()]
    grads = torch.autograd.grad(loss, params + [student, teacher], allow_unused=True)
    assert grads[-1] is None  # nothing flows into the teacher's inputs
    assert grads[-2] is not None

    # parameter gradients are those of the student path alone, with the teacher's
    # features as constants (a teacher with a graph adds its own path and differs)
    torch.manual_seed(7)
    with torch.no_grad(), replayed_randomness():
        targets = model.backbone(teacher)
    assert all(t.grad_fn is None and not t.requires_grad for t in targets)
    reference = 2.0 * feature_distance(model.backbone(student), targets).mean()
    ref_grads = torch.autograd.grad(reference, params, allow_unused=True)
    assert torch.allclose(loss, reference)
    for g, r in zip(grads, ref_grads):
        assert (g is None) == (r is None)
        if g is not None:
            torch.testing.assert_close(g, r)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="subset of \\('features', 'logits'\\)"):
        parse_distill(dict(weight=1.0, targets=('attention', )))
    with pytest.raises(ValueError, match='non-empty'):
        parse_distill(dict(targets=()))
    with pytest.raises(ValueError, match='>= 0'):
        parse_distill(dict(weight=-0.5))
    with pytest.raises(ValueError, match='unknown'):
        parse_distill(dict(weigth=1.0))
    with pytest.raises(ValueError, match='targets'):
        tiny_model(targets=('feature', ))
    assert parse_distill(dict(targets='logits')) == dict(weight=1.0, targets=('logits', ))
    assert not tiny_model(weight=0.0).wants_full_inputs


# ---------------------------------------------------------------- DDP
@HOOKS.register_module()
class DistillProbe(Hook):
    """Writes each rank's loss_distill per iteration and its final parameters."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        rank = runner.rank
        with open(osp.join(self.out_dir, f'distill_rank{rank}.txt'), 'a') as f:
            f.write(f"{float(torch.as_tensor(outputs['loss_distill']).detach())}\n")

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(model.state_dict(), osp.join(self.out_dir, f'params_rank{runner.rank}.pt'))


def test_two_process_gloo_training_with_distillation(tmp_path, dfc2023_root, monkeypatch):
    from incomplete_fusion.testing.tiny import make_tiny_config
    from test_dist_train import dist_train
    path = make_tiny_config(NAME, dfc2023_root, str(tmp_path), max_iters=2, seed=1,
                            extra_hooks=[dict(type='DistillProbe', out_dir=str(tmp_path))])
    cfg = Config.fromfile(path)
    assert cfg.model.type == 'SelfDistillEncoderDecoder'
    cfg.custom_imports['imports'] = list(cfg.custom_imports['imports']) + [
        'test_self_distillation']
    cfg.dump(path)
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([TESTS, os.environ.get('PYTHONPATH', '')]))
    result = dist_train(path, str(tmp_path / 'run'))
    log = result.stdout + result.stderr
    assert 'loss_distill' in log
    values = []
    for rank in (0, 1):
        with open(tmp_path / f'distill_rank{rank}.txt') as f:
            values.append([float(v) for v in f.read().split()])
    assert [len(v) for v in values] == [2, 2]
    assert all(v >= 0 for v in values[0] + values[1]) and any(v > 0 for v in values[0] + values[1])
    r0, r1 = (torch.load(tmp_path / f'params_rank{r}.pt') for r in (0, 1))
    assert r0.keys() == r1.keys()
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    assert glob.glob(str(tmp_path / 'run' / 'iter_2.pth'))


def test_instance_model_trains_with_feature_distillation(tmp_path, dfc2023_root):
    """mmdet side: SelfDistillMask2Former, one process, two iterations."""
    from incomplete_fusion.testing.tiny import fresh_run, load_tool, make_tiny_config
    path = make_tiny_config('mask2former_dfc2023_distill', dfc2023_root, str(tmp_path),
                            max_iters=2, seed=1,
                            extra_hooks=[dict(type='DistillProbe', out_dir=str(tmp_path))])
    assert Config.fromfile(path).model.type == 'SelfDistillMask2Former'
    load_tool('train').main([path, '--work-dir', str(tmp_path / 'run'), '--cfg-options',
                             *fresh_run()])
    with open(tmp_path / 'distill_rank0.txt') as f:
        values = [float(v) for v in f.read().split()]
    assert len(values) == 2 and any(v > 0 for v in values)
    with pytest.raises(ValueError, match="subset of \\('features',\\)"):
        parse_distill(dict(targets=('logits', )), allowed=('features', ))
