"""Speed of FusionViT's masked attention and of the whole backbone (prints ratios).

All figures come from one run on one machine; compare the ratios, not the
absolute times across machines. Figures and dates: docs/results.md#backbone-benchmarksbench_backbonepy.

    python benchmarks/bench_backbone.py                # all sections, 2 threads
    python benchmarks/bench_backbone.py --sections attention --threads 4
    python benchmarks/bench_backbone.py --sections attention backbone --impls block_sparse flex

Sections:
  matmul     this machine's fp32 matmul throughput (GFLOP/s), the reference for
             the backbone's achieved fraction;
  attention  the masked self-attention op alone (q, k, v -> out), forward +
             backward, each of --impls (default block-sparse; + flex: torch's
             eager reference on CPU, compiled on CUDA) vs the dense
             oracle (SDPA + boolean mask), batch 8, 256^2 (L = 256 tokens per
             modality), 3 and 4 modalities;
  backbone   whole ViT-T backbone forward + backward throughput (img/s), batch 8,
             256^2, 3 modalities, each of --impls and dense attention;
  subsets    inference forward time with 1, 2, 3 of 3 modalities present
             (absent for the whole batch), relative to all present, and the
             achieved fraction of the matmul throughput.
"""
import argparse
import statistics
import time
from typing import Callable, Dict

import torch
from mmengine.logging import MMLogger
from torch.utils.flop_counter import FlopCounterMode

from incomplete_fusion.models.backbones import FusionViT
from incomplete_fusion.models.layers import AttentionMasks
from incomplete_fusion.models.layers.attention import ATTENTION_IMPLS

SPECS3 = [dict(name='rgb', channels=3), dict(name='sar', channels=1), dict(name='dsm', channels=1)]
SPECS4 = SPECS3 + [dict(name='dw', channels=1, kind='categorical', num_classes=9)]


CLOCK = time.perf_counter  # --clock cpu: time.process_time


def compare(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> Dict[str, float]:
    """Best-of-``repeats`` seconds per function, runs interleaved (A B A B ...).

    Interleaving exposes every candidate to the same background load, and the
    minimum is the estimate least disturbed by other processes on a shared CPU.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    best = {name: float('inf') for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = CLOCK()
            fn()
            best[name] = min(best[name], CLOCK() - start)
    return best


def bench_matmul(repeats: int) -> float:
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = compare({'mm': lambda: torch.mm(a, b)}, repeats, warmup=2)['mm']
    gflops = 2 * n**3 / seconds / 1e9
    print(f'[matmul] fp32 {n}x{n}x{n}: {seconds * 1e3:.1f} ms = {gflops:.1f} GFLOP/s')
    return gflops


def bench_attention(batch: int, tokens: int, repeats: int, impls=('block_sparse',)) -> None:
    heads, head_dims = 3, 64  # ViT-T
    for num_modalities in (3, 4):
        k_blocks = num_modalities + 1
        qkv = torch.randn(batch, k_blocks, tokens, 3, heads, head_dims, requires_grad=True)
        available = torch.ones(batch, k_blocks, tokens, dtype=torch.bool)
        g = torch.Generator().manual_seed(0)
        partial = available.clone()
        partial[:, :-1] &= torch.rand(batch, num_modalities, tokens, generator=g) > 0.1
        partial[0, 0] = False  # a modality missing for one sample
        for label, avail in (('all present', available), ('10% patches + 1 modality missing', partial)):

            def step(fn, avail=avail):
                masks = AttentionMasks.from_available(avail)  # counted: built per forward
                q, k, v = qkv.unbind(3)
                fn(q, k, v, masks).sum().backward()

            results = compare({impl: (lambda fn=ATTENTION_IMPLS[impl]: step(fn))
                               for impl in (*impls, 'dense')}, repeats)
            for impl in impls:
                print(f'[attention] M={num_modalities} {label:34s} fwd+bwd: {impl} '
                      f'{results[impl] * 1e3:7.1f} ms, dense oracle {results["dense"] * 1e3:7.1f} ms'
                      f' -> speed-up {results["dense"] / results[impl]:.2f}x '
                      f'(dense/sparse score-FLOP ratio {(k_blocks**2) / (2 * num_modalities + 1):.2f})')


def make_backbone(impl: str) -> FusionViT:
    torch.manual_seed(0)
    model = FusionViT(SPECS3, attention_impl=impl)
    model.init_weights()
    return model


def bench_backbone(batch: int, size: int, repeats: int, impls=('block_sparse',)) -> None:
    x = torch.randn(batch, 5, size, size)
    models = {impl: make_backbone(impl).train() for impl in (*impls, 'dense')}

    def step(model):
        model.zero_grad(set_to_none=True)
        sum(m.mean() for m in model(x)).backward()

    results = compare({impl: (lambda m=m: step(m)) for impl, m in models.items()}, repeats)
    for impl, seconds in results.items():
        print(f'[backbone] ViT-T 3 modalities fwd+bwd {impl:12s}: {seconds:6.2f} s/iter '
              f'= {batch / seconds:5.2f} img/s')
    for impl in impls:
        print(f'[backbone] {impl} speed-up over dense: {results["dense"] / results[impl]:.2f}x')


def bench_subsets(batch: int, size: int, repeats: int, gflops: float) -> None:
    model = make_backbone('block_sparse').eval()
    names = ['rgb', 'sar', 'dsm']
    slices = model.slices
    inputs = {}
    for present in (names, names[:2], names[:1]):
        x = torch.randn(batch, 5, size, size)
        for n in names:
            if n not in present:
                x[:, slices[n]] = float('nan')
        inputs['+'.join(present)] = x
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    with torch.no_grad():
        # the matmul reference is timed in the same interleaved runs, under the same load
        seconds = compare({'matmul': lambda: [torch.mm(a, b) for _ in range(5)],
                           **{key: (lambda x=x: model(x)) for key, x in inputs.items()}}, repeats)
        gflops = max(gflops, 5 * 2 * n**3 / seconds.pop('matmul') / 1e9)
        flops = {}
        for key, x in inputs.items():
            with FlopCounterMode(display=False) as counter:
                model(x)
            flops[key] = counter.get_total_flops()
    reference = seconds['+'.join(names)]
    print(f'[subsets] fp32 matmul reference (best seen): {gflops:.1f} GFLOP/s')
    for key, secs in seconds.items():
        achieved = flops[key] / secs / 1e9
        print(f'[subsets] forward with {key.count("+") + 1}/3 present ({key}): {secs * 1e3:7.1f} ms '
              f'= {secs / reference:.2f} of the time with all; {flops[key] / 1e9:.1f} GFLOP -> '
              f'{achieved:.1f} GFLOP/s = {100 * achieved / gflops:.0f}% of fp32 matmul')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help='cpu: process CPU time, for a CPU shared with other jobs '
                        '(use with --threads 1: OpenMP spin-waits would count otherwise)')
    parser.add_argument('--impls', nargs='+', default=['block_sparse'],
                        choices=['block_sparse', 'flex', 'auto'],
                        help='attention implementations compared with the dense oracle')
    parser.add_argument('--sections', nargs='+', default=['matmul', 'attention', 'backbone', 'subsets'],
                        choices=['matmul', 'attention', 'backbone', 'subsets'])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == 'cpu' else time.perf_counter
    MMLogger.get_current_instance().setLevel('WARNING')  # no per-parameter init report
    print(f'torch {torch.__version__}, {args.threads} threads, batch {args.batch}, {args.size}^2, '
          f'best of {args.repeats} interleaved runs, {args.clock} clock')
    gflops = bench_matmul(5) if 'matmul' in args.sections or 'subsets' in args.sections else None
    if 'attention' in args.sections:
        bench_attention(args.batch, (args.size // 16)**2, args.repeats, args.impls)
    if 'backbone' in args.sections:
        bench_backbone(args.batch, args.size, args.repeats, args.impls)
    if 'subsets' in args.sections:
        bench_subsets(args.batch, args.size, args.repeats, gflops)


if __name__ == '__main__':
    main()
