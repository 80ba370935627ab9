"""Full Mask2Former models: training throughput, peak memory, inference time per subset.

For each config (each measured in its own process, so that peak memory is its own):
generates a small synthetic dataset of the config's layout into a temporary folder
(``incomplete_fusion.testing.generate``), builds the model and the training dataset
of the config on it, binds the config's modalities (as the run's loops do), then
measures

* training throughput in images/s over ``--iters`` steps (forward, backward,
  AdamW step; after ``--warmup`` steps),
* peak memory: ``torch.cuda.max_memory_allocated`` on a GPU, the process's peak
  resident set size on CPU,
* inference time of one batch with every non-empty modality subset, relative to
  all modalities present (absent modalities are all-NaN; their tokens are not
  computed at all).

Figures are measured in this one run and printed; nothing is asserted. ``--clock cpu``
times with the process's CPU time instead of the wall clock: with
``OMP_NUM_THREADS=1`` that is the compute time of one core, readable on a machine
other jobs share (wall-clock figures there are not).

    .venv/bin/python benchmarks/bench_models.py                      # the three paper configs
    .venv/bin/python benchmarks/bench_models.py --preset configs/demo/cpu_preset.py \\
        configs/fusionvit/mask2former_dfc2023_semantic.py            # the demo's model
"""
import argparse
import atexit
import json
import os.path as osp
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

DEFAULT_CONFIGS = [
    'configs/fusionvit/mask2former_dfc2023.py',
    'configs/fusionvit/mask2former_dfc2023_semantic.py',
    'configs/fusionvit/mask2former_quadruplet.py',
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS)
    parser.add_argument('--preset', default=None, help='partial config merged on top')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help='cpu: process CPU time (use with OMP_NUM_THREADS=1; CPU only)')
    parser.add_argument('--single', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clock == 'cpu' and not args.device.startswith('cpu'):
        parser.error('--clock cpu times the CPU process; on a GPU use the wall clock')
    return args


def measure(args) -> dict:
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS, MODELS, init_default_scope

    import incomplete_fusion  # noqa: F401
    from incomplete_fusion.experiments import compose_config
    from incomplete_fusion.binding import bind, modality_set_of
    from incomplete_fusion.engine.data_root import rebase_data_root, stale_data_root
    from incomplete_fusion.modalities import nonempty_subsets
    from incomplete_fusion.testing import generate

    cfg = compose_config(args.configs[0], args.preset)
    layout = 'dfc2023' if 'DFC2023' in str(cfg.train_dataloader) else 'quadruplet'
    tmp = tempfile.mkdtemp()
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    cfg.data_root = osp.join(tmp, layout)
    generate(layout, cfg.data_root, num_train=max(4, args.batch_size), num_val=2, size=256)
    roots = stale_data_root(cfg)
    mset = modality_set_of(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model).to(args.device)
    dataset = DATASETS.build(rebase_data_root(cfg.train_dataloader, roots)['dataset'])
    test_dataset = DATASETS.build(rebase_data_root(cfg.test_dataloader, roots)['dataset'])
    bind(mset, model, dataset, test_dataset)
    batch = pseudo_collate([dataset[i % len(dataset)] for i in range(args.batch_size)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def sync():
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()

    clock = time.process_time if args.clock == 'cpu' else time.perf_counter
    model.train()
    for step in range(args.warmup + args.iters):
        if step == args.warmup:
            sync()
            start = clock()
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync()
    train_ips = args.iters * args.batch_size / (clock() - start)

    model.eval()
    names = list(mset.active)
    test_batch = pseudo_collate([test_dataset[0]] * args.batch_size)
    subset_ms = {}
    with torch.no_grad():
        for subset in [tuple(names)] + nonempty_subsets(names):
            inputs = [mset.keep_only(x.clone().float(), subset) for x in test_batch['inputs']]
            times = []
            for _ in range(1 + args.iters):
                sync()
                t = clock()
                model.test_step(dict(inputs=inputs, data_samples=test_batch['data_samples']))
                sync()
                times.append(clock() - t)
            subset_ms['+'.join(subset)] = 1000 * min(times[1:])
    if args.device.startswith('cuda'):
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(config=args.configs[0], train_img_per_s=train_ips, peak_mib=peak_mib,
                infer_ms=subset_ms, all_ms=subset_ms['+'.join(names)])


def main():
    args = parse_args()
    if args.single:
        print('RESULT ' + json.dumps(measure(args)), flush=True)
        return
    rows = []
    for config in args.configs:
        command = [sys.executable, __file__, config, '--single', '--batch-size',
                   str(args.batch_size), '--iters', str(args.iters), '--warmup',
                   str(args.warmup), '--device', args.device, '--clock', args.clock]
        if args.preset:
            command += ['--preset', args.preset]
        out = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith('RESULT ')]
        if not line:
            sys.exit(f'{config} failed:\n{out.stderr[-3000:]}')
        rows.append(json.loads(line[0][len('RESULT '):]))

    import torch
    print(f'\ndevice {args.device}, torch threads {torch.get_num_threads()}, batch '
          f'{args.batch_size}, {args.iters} timed steps, preset {args.preset}, '
          f'{args.clock} clock')
    print('\n| config | train img/s | peak memory (MiB) | inference, all modalities (ms/batch) |')
    print('|---|--:|--:|--:|')
    for r in rows:
        print(f"| {osp.basename(r['config'])} | {r['train_img_per_s']:.2f} | "
              f"{r['peak_mib']:.0f} | {r['all_ms']:.0f} |")
    for r in rows:
        print(f"\ninference time per subset, relative to all present: {osp.basename(r['config'])}")
        print('| subset | ms/batch | ratio |')
        print('|---|--:|--:|')
        for subset, ms in r['infer_ms'].items():
            print(f'| {subset} | {ms:.0f} | {ms / r["all_ms"]:.2f} |')


if __name__ == '__main__':
    main()
