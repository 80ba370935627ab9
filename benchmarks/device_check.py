"""Device check: tests, backbone and full-model figures on one device, in one JSON file.

Run by ``benchmarks/device_check.sh`` (which first builds the venv); runnable alone:

    .venv/bin/python benchmarks/device_check.py --device cuda        # paper sizes
    .venv/bin/python benchmarks/device_check.py --device cpu         # tiny sizes

Each step runs in its own process with its own timeout, cut to what is left of
``--budget`` seconds, and the report is rewritten after every step, so a step
that fails or hangs costs only itself. Steps:

  env       torch/mmcv versions, the device, whether flex_attention runs there and
            whether mmcv's MultiScaleDeformableAttention (a compiled op) runs there;
  tests     tests/test_device_paths.py, tests/test_device_models.py (their CUDA cases run where a device is);
  backbone  ViT-T FusionViT fwd+bwd img/s per attention implementation, float32
            and bf16 autocast, and what ``attention_impl='auto'`` measured and chose;
  model     per config (device_check_models.py: Config.fromfile + MODELS.build,
            a synthetic batch, no dataset): train img/s (AdamW, best step after a
            warm-up), peak memory, and inference ms per modality subset, without
            and with bf16 autocast (AMP). One process per config on CUDA, one for
            all on CPU (tiny sizes: 64^2, batch 1).

Figures are measured in this one run; nothing is asserted.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from contextlib import nullcontext

BENCH = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(BENCH)
sys.path[:0] = [REPO, BENCH]

DEFAULT_CONFIGS = [
    'configs/fusionvit/mask2former_dfc2023.py',
    'configs/fusionvit/mask2former_dfc2023_semantic.py',
    'configs/fusionvit/mask2former_quadruplet.py',
]
# per-step time caps (s) on each device; a step gets less when the budget runs short
CAPS = dict(cuda=dict(env=60, tests=150, backbone=120, model=80),
            cpu=dict(env=30, tests=60, backbone=30, model=40))
# image side, batch; timed train steps and inference runs (best of), after warm-ups
SIZES = dict(cuda=dict(size=256, batch=8, iters=3, warmup=1, infer_runs=3, infer_warmup=1),
             cpu=dict(size=64, batch=1, iters=1, warmup=0, infer_runs=1, infer_warmup=0))
IMPLS = ['block_sparse', 'dense', 'flex', 'auto']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS)
    parser.add_argument('--device', choices=['cuda', 'cpu'], default='cuda')
    parser.add_argument('--out', default=None,
                        help='report file (default $OUT/device_check.json, else work_dirs/)')
    parser.add_argument('--budget', type=float, default=540, help='seconds for all steps')
    parser.add_argument('--attention', default=None, choices=IMPLS,
                        help='attention_impl of the full models (default: as configured)')
    parser.add_argument('--threads', type=int, default=None,
                        help='OMP_NUM_THREADS of the steps (default: 1 on CPU, where a second '
                        'thread on a shared machine made steps several times slower)')
    parser.add_argument('--setup-seconds', type=float, default=None)
    parser.add_argument('--setup-rc', default=None)
    parser.add_argument('--step', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is None and args.device == 'cpu' and not args.step:
        args.threads = 1
    return args


# ------------------------------------------------------------------ steps
def sync_fn(device):
    import torch
    return torch.cuda.synchronize if device == 'cuda' else (lambda: None)


def autocast(device, amp):
    import torch
    return torch.autocast(device, dtype=torch.bfloat16) if amp else nullcontext()


def step_env(args, _):
    import torch

    from incomplete_fusion.models.layers.flex_attention import flex_support
    info = dict(torch=torch.__version__, cuda_available=torch.cuda.is_available(),
                threads=torch.get_num_threads())
    if args.device == 'cuda':
        info.update(gpu=torch.cuda.get_device_name(), capability=torch.cuda.get_device_capability(),
                    cuda=torch.version.cuda)
    info['flex'] = dict(zip(('runs', 'how'), flex_support(torch.device(args.device))))
    try:
        import mmcv
        from mmcv.ops import MultiScaleDeformableAttention
        info['mmcv'] = mmcv.__version__
        attn = MultiScaleDeformableAttention(embed_dims=32, num_heads=2, num_levels=1,
                                             num_points=2, batch_first=True).to(args.device)
        shapes = torch.tensor([[4, 4]], device=args.device)
        value = torch.randn(1, 16, 32, device=args.device)
        ref = torch.rand(1, 16, 1, 2, device=args.device)
        attn(value, value=value, reference_points=ref, spatial_shapes=shapes,
             level_start_index=torch.zeros(1, dtype=torch.long, device=args.device))
        info['mmcv_ms_deform_attn'] = 'ok'
    except Exception as error:  # noqa: BLE001  reported, not fatal
        info['mmcv_ms_deform_attn'] = f'{type(error).__name__}: {error}'[:400]
    return info


def step_tests(args, timeout):
    command = [sys.executable, '-m', 'pytest', 'tests/test_device_paths.py',
               'tests/test_device_models.py', '-q', '-rfEs', '-p', 'no:cacheprovider']
    start = time.perf_counter()
    try:
        out = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                             timeout=timeout - 5)
        rc, stdout, stderr = out.returncode, out.stdout, out.stderr
    except subprocess.TimeoutExpired as expired:  # keep what it printed
        rc, stdout, stderr = 'timeout', expired.stdout or '', expired.stderr or ''
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
        stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = stdout.strip().splitlines()
    return dict(rc=rc, seconds=round(time.perf_counter() - start, 1),
                summary=lines[-1] if lines else stderr[-500:],
                skipped=[ln for ln in lines if ln.startswith('SKIPPED')],
                failures=[ln for ln in lines if ln.startswith(('FAILED', 'ERROR'))])


def step_backbone(args, _):
    import torch
    from bench_backbone import compare, make_backbone

    from incomplete_fusion.models.layers.attention import ATTENTION_IMPLS
    size, batch = SIZES[args.device]['size'], SIZES[args.device]['batch']
    sync = sync_fn(args.device)
    x = torch.randn(batch, 5, size, size, device=args.device)
    result = dict(size=size, batch=batch, img_per_s={}, errors={})
    models = {impl: make_backbone(impl).to(args.device).train() for impl in IMPLS}
    for amp in (False, True):
        label = 'bf16' if amp else 'fp32'

        def step(model, amp=amp):
            model.zero_grad(set_to_none=True)
            with autocast(args.device, amp):
                loss = sum(m.float().mean() for m in model(x))
            loss.backward()
            sync()

        runnable = {}
        for impl, model in models.items():
            try:
                step(model)  # warm-up: compiles flex, measures auto
                runnable[impl] = lambda m=model: step(m)
            except Exception as error:  # noqa: BLE001
                result['errors'][f'{impl} {label}'] = f'{type(error).__name__}: {error}'[:400]
        seconds = compare(runnable, repeats=SIZES[args.device]['iters'], warmup=0)
        result['img_per_s'][label] = {impl: round(batch / s, 2) for impl, s in seconds.items()}
    result['auto_decisions'] = {str(key): value for key, value in ATTENTION_IMPLS['auto'].decisions.items()}
    return result


def step_model(args, _):
    from device_check_models import measure_configs
    return measure_configs(args, SIZES[args.device], sync_fn(args.device), autocast)


STEPS = dict(env=step_env, tests=step_tests, backbone=step_backbone, model=step_model)


# ------------------------------------------------------------------ driver
def run_step(args, name, extra, timeout):
    """Run one step in a child process; its result or what went wrong."""
    if timeout < 10:
        return dict(error=f'skipped: {timeout:.0f} s of the budget left')
    command = [sys.executable, __file__, '--step', name, '--device', args.device, *extra]
    env = dict(os.environ, STEP_TIMEOUT=str(int(timeout)))
    if args.threads:
        env['OMP_NUM_THREADS'] = str(args.threads)
    start = time.perf_counter()
    try:
        out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                             env=env)
    except subprocess.TimeoutExpired:
        return dict(error=f'timed out after {timeout:.0f} s')
    line = [ln for ln in out.stdout.splitlines() if ln.startswith('RESULT ')]
    result = json.loads(line[-1][7:]) if line else dict(error=f'rc {out.returncode}: '
                                                        + out.stderr.strip()[-1500:])
    result['step_seconds'] = round(time.perf_counter() - start, 1)
    return result


def plan_steps(args, report):
    """(report key, step, extra arguments, time cap) in order."""
    caps = CAPS[args.device]
    plan = [('env', 'env', [], caps['env']), ('tests', 'tests', [], caps['tests']),
            ('backbone', 'backbone', [], caps['backbone'])]
    configs = []
    for config in args.configs:
        if osp.isfile(osp.join(REPO, config)):
            configs.append(config)
        else:
            report['models'][config] = dict(error=f'config file not found: {config} (pass '
                                            "the paper configs' paths as arguments)")
    attention = ['--attention', args.attention] if args.attention else []
    if args.device == 'cuda':  # one process per config: its own peak memory, its own timeout
        plan += [(f'model {c}', 'model', [c, *attention], caps['model']) for c in configs]
    elif configs:  # CPU: one process (imports once), tiny sizes
        plan.append(('models', 'model', [*configs, *attention], caps['model'] * len(configs)))
    return plan


def main():
    args = parse_args()
    if args.step:
        timeout = float(os.environ.get('STEP_TIMEOUT', 600))
        print('RESULT ' + json.dumps(STEPS[args.step](args, timeout), default=str), flush=True)
        return
    out = args.out or osp.join(os.environ.get('OUT') or osp.join(REPO, 'work_dirs'),
                               'device_check.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    started = time.monotonic()
    report = dict(device=args.device, budget_s=args.budget, threads=args.threads,
                  setup=dict(seconds=args.setup_seconds, rc=args.setup_rc), steps={}, models={})
    for key, name, extra, cap in plan_steps(args, report):
        timeout = min(cap, args.budget - (time.monotonic() - started) - 5)
        print(f'[device_check] {key} (up to {timeout:.0f} s) ...', flush=True)
        result = run_step(args, name, extra, timeout)
        if name == 'model':
            seconds = result.pop('step_seconds', None)
            models = {c: result for c in extra if c in args.configs} if 'error' in result else result
            for config, row in models.items():
                report['models'][config] = dict(row, step_seconds=seconds)
        else:
            report['steps'][key] = result
        print(f'[device_check] {key}: {json.dumps(result, default=str)[:3000]}', flush=True)
        report['seconds'] = round(time.monotonic() - started, 1)
        with open(out, 'w') as f:
            json.dump(report, f, indent=1, default=str)
    summarise(report)
    print(f'[device_check] report: {out} ({report["seconds"]} s)')


def summarise(report: dict) -> None:
    """The figures of ``report`` as short tables."""
    steps = report['steps']
    print(f"\n== device check on {report['device']}: setup {report['setup']}")
    for key in ('env', 'tests'):
        print(f'{key}: {steps.get(key)}')
    backbone = steps.get('backbone', {})
    if 'error' in backbone or backbone.get('errors'):
        print(f"backbone: {backbone.get('error') or backbone['errors']}")
    for label, row in backbone.get('img_per_s', {}).items():
        print(f"backbone ViT-T fwd+bwd {label}, batch {backbone['batch']}, {backbone['size']}^2, "
              'img/s: ' + ', '.join(f'{impl} {ips}' for impl, ips in row.items()))
    for key, decision in backbone.get('auto_decisions', {}).items():
        print(f'auto {key}: {decision}')
    print('| config | precision | train img/s | peak MiB | inference ms per subset |')
    print('|---|---|--:|--:|---|')
    for config, result in report['models'].items():
        if 'error' in result:
            print(f"| {osp.basename(config)} | - | error: {result['error'][-300:]!r} | | |")
            continue
        for label in ('fp32', 'bf16'):
            row = result[label]
            peak = row.get('peak_train_mib', row.get('peak_rss_mib'))
            subsets = ', '.join(f'{k} {v}' for k, v in row['infer_ms'].items())
            print(f"| {osp.basename(config)} | {label} | {row['train_img_per_s']} | {peak} | "
                  f'{subsets} |')


if __name__ == '__main__':
    main()
