"""Why a FusionViT variant trains or collapses: gradient flow and locality, measured.

For each variant (a config root + the CPU preset), on the generated DFC2023-style
data, at initialisation and again after ``--steps`` training iterations (the
config's own optimiser, schedule and hooks):

* **gradient norms** of one full-input batch's loss reaching the patch
  embeddings, the learned fusion tokens, the self-attention qkv projections and
  (FusionViT) the modality attention;
* **fusion-query attention**: entropy of each fusion query's self-attention
  weights, as a fraction of the uniform entropy (1.0 = uniform), and the weight
  it puts on the tokens at its own location, times ``L`` (1.0 = uniform, larger
  = local), averaged over heads, queries and layers;
* **locality ratio**: a tall block is added to the DSM; how much more the last
  fusion map changes inside the block than far from it (>= 3 patches away).
  Without a local path from the input to the fusion tokens this is ~1.

    OMP_NUM_THREADS=1 python benchmarks/baseline_diagnostics.py --steps 50
    python benchmarks/baseline_diagnostics.py --variants MultiViT \\
        --cfg-options model.backbone.fusion_init=modality_mean

Prints figures measured in one run (no pass/fail).
"""
import argparse
import math
import os.path as osp
import sys
import tempfile
from typing import Dict, List

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

from incomplete_fusion.experiments import (common_options, compose_config,  # noqa: E402
                                           make_dfc2023_data)

VARIANTS = {
    'FusionViT': 'mask2former_dfc2023_semantic.py',
    'MultiViT': 'multivit_dfc2023_semantic.py',
    'w/o modality attn': 'mask2former_dfc2023_semantic_wo-modality-attn.py',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--steps', type=int, default=50, help='training iterations between '
                        'the two measurements (0: at initialisation only)')
    parser.add_argument('--data-root', default=None,
                        help='generated DFC2023 data (default: generated in a temp dir)')
    parser.add_argument('--preset', default=osp.join(REPO, 'configs', 'demo', 'cpu_preset.py'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--block-height', type=float, default=3.0,
                        help='DSM block added for the locality ratio (normalised units)')
    parser.add_argument('--checkpoint', default=None,
                        help='measure these weights instead of the initialisation (one variant)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value overrides applied to every variant')
    return parser.parse_args(argv)


def build(config: str, args, work_dir: str):
    """Runner with the loops built (modalities bound), weights initialised."""
    from incomplete_fusion.utils import build_runner
    options = common_options(args.data_root, args.seed, max(args.steps, 1)) + [
        f'work_dir={work_dir}', 'default_hooks.checkpoint.save_last=False',
        f'default_hooks.checkpoint.interval={10**9}', f'train_cfg.val_begin={10**9}',
        'default_hooks.logger.interval=10'
    ] + args.cfg_options
    cfg = compose_config(osp.join(REPO, 'configs', 'fusionvit', config), args.preset, options)
    runner = build_runner(cfg)
    runner.train_loop  # builds the loop: binds the modalities, builds the dataloader
    runner._init_model_weights()
    return runner


def full_input_batch(runner):
    """One preprocessed training batch with every modality present."""
    batch = next(runner.train_loop.dataloader_iterator)
    return runner.model.data_preprocessor(batch, True)


def grad_norms(model, data) -> Dict[str, float]:
    model.zero_grad()
    losses = model.loss(data['inputs'], data['data_samples'])
    loss, _ = model.parse_losses(losses)
    loss.backward()
    backbone = model.backbone
    groups = {'patch_embeds': [], 'fusion_tokens': [], 'attn_qkv': [], 'modality_attn': []}
    for name, p in backbone.named_parameters():
        if p.grad is None:
            continue
        key = ('patch_embeds' if name.startswith('patch_embeds') else
               'fusion_tokens' if name == 'fusion_tokens' else
               'attn_qkv' if '.attn.qkv.' in name else
               'modality_attn' if '.modality_attn.' in name else None)
        if key:
            groups[key].append(p.grad.detach().pow(2).sum())
    out = {k: float(torch.stack(v).sum().sqrt()) if v else float('nan') for k, v in groups.items()}
    out['loss'] = float(loss.detach())
    model.zero_grad()
    return out


@torch.no_grad()
def attention_stats(backbone, inputs) -> Dict[str, float]:
    """Fusion queries' self-attention: entropy / log(#keys) and local weight x L."""
    records: List[tuple] = []

    def hook(module, args):
        records.append((module, args[0], args[1]))

    handles = []
    for layer in backbone.layers:
        handles.append(layer.attn.register_forward_pre_hook(hook))
        layer.attn.forward_fusion = _hooked(layer.attn, hook)
    try:
        backbone.forward_tokens(inputs)
    finally:
        for h in handles:
            h.remove()
        for layer in backbone.layers:
            del layer.attn.forward_fusion
    entropies, local = [], []
    for attn, x, masks in records:
        b, kb, l, d = x.shape
        h = attn.num_heads
        q, k, _ = attn.qkv(x).view(b, kb, l, 3, h, d // h).unbind(3)
        q = q[:, -1].transpose(1, 2)  # (B, H, L, Dh)
        k = k.reshape(b, kb * l, h, d // h).transpose(1, 2)  # (B, H, N, Dh)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)
        keys = masks.available.reshape(b, 1, 1, kb * l)
        weights = scores.masked_fill(~keys, float('-inf')).softmax(-1)
        ent = -(weights * weights.clamp_min(1e-30).log()).sum(-1)
        entropies.append((ent / keys.sum(-1).float().log()).mean())
        same = torch.eye(l, dtype=torch.bool, device=x.device).repeat(1, kb)  # (L, N)
        local.append(((weights * same).sum(-1) * l).mean())
    return {'entropy/uniform': float(torch.stack(entropies).mean()),
            'local weight x L': float(torch.stack(local).mean())}


def _hooked(attn, hook):
    forward_fusion = type(attn).forward_fusion

    def wrapped(x, masks):
        hook(attn, (x, masks))
        return forward_fusion(attn, x, masks)

    return wrapped


@torch.no_grad()
def locality_ratio(backbone, inputs, height: float) -> float:
    """|change of the last fusion map| inside a DSM block / far from it."""
    p = backbone.patch_size
    dsm = backbone.slices['dsm']
    gh, gw = inputs.shape[-2] // p, inputs.shape[-1] // p
    r0, c0 = 1, 1  # a 2x2-patch block near the top-left corner
    bumped = inputs.clone()
    bumped[:, dsm, r0 * p:(r0 + 2) * p, c0 * p:(c0 + 2) * p] += height
    change = (backbone(bumped)[-1] - backbone(inputs)[-1]).norm(dim=1)  # (B, gh, gw)
    rows = torch.arange(gh)[:, None].expand(gh, gw)
    cols = torch.arange(gw)[None].expand(gh, gw)
    inside = (rows >= r0) & (rows < r0 + 2) & (cols >= c0) & (cols < c0 + 2)
    dist = torch.maximum((rows - r0 - 0.5).abs() - 0.5, (cols - c0 - 0.5).abs() - 0.5)
    far = dist >= 3
    return float(change[:, inside].mean() / change[:, far].mean())


def measure(runner, args) -> Dict[str, float]:
    model = runner.model
    was_training = model.training
    data = full_input_batch(runner)
    model.train()
    figures = grad_norms(model, data)
    model.eval()
    figures.update(attention_stats(model.backbone, data['inputs']))
    figures['locality ratio'] = locality_ratio(model.backbone, data['inputs'], args.block_height)
    model.train(was_training)
    return figures


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    tmp = tempfile.mkdtemp(prefix='baseline_diag_')
    if args.data_root is None:
        args.data_root = osp.join(tmp, 'data') + '/'
        make_dfc2023_data(args.data_root, 96, 16, 128, args.seed)
    header = ['loss', 'patch_embeds', 'fusion_tokens', 'attn_qkv', 'modality_attn',
              'entropy/uniform', 'local weight x L', 'locality ratio']
    print(f'\n| variant | step | {" | ".join(header)} |\n|---|--:|' + '--:|' * len(header),
          flush=True)
    rows = []
    for variant in args.variants:
        runner = build(VARIANTS[variant], args, osp.join(tmp, variant.replace(' ', '_').replace('/', '')))
        if args.checkpoint:
            from mmengine.runner import load_checkpoint
            load_checkpoint(runner.model, args.checkpoint, map_location='cpu')
        steps = [0] + ([args.steps] if args.steps else [])
        for step in steps:
            if step:
                runner.train()
            figures = measure(runner, args)
            label = 'ckpt' if args.checkpoint and not step else step
            rows.append(f'| {variant} | {label} | ' +
                        ' | '.join(f'{figures[k]:.4g}' for k in header) + ' |')
            print(rows[-1], flush=True)
    print('\n' + '\n'.join(rows))
    print(f'\nextra options: {args.cfg_options or "none"}; data: {args.data_root}')


if __name__ == '__main__':
    main()
