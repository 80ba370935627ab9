"""Loading throughput of the DFC2023 instance dataset (samples/s, one worker, 256²).

Generates a synthetic DFC2023 split (256×256 tiles), then times the loading
pipeline (LoadMultimodalImages + mmdet LoadAnnotations + PackDetInputs):

* in the main process (no DataLoader), in wall-clock and in CPU time of the process
  (the latter does not depend on other load on the machine), with the time spent
  inside rasterio reads (opening files, reading/resampling pixels) measured apart, and
* through a torch DataLoader with ``num_workers=1`` (what a training run sees), and
* with and without the value checks of the declared units
  (:mod:`incomplete_fusion.datasets.value_checks`, the specs declare the units of the
  shipped configs): passes with the checks off and passes with every file checked
  (the per-file cache cleared before each, i.e. the first epoch; later epochs check
  nothing) alternate, and the fastest pass of each is compared in CPU time.

Usage::

    python benchmarks/bench_loading.py [--num 64] [--size 256] [--repeats 2]

Prints samples/s, the share of loading time spent in rasterio reads, and the
loading time with and without the checks (the checks must cost < 5 %).
"""
import argparse
import os
import tempfile
import time

import numpy as np


def build_dataset(root: str):
    from mmengine.registry import DefaultScope

    from incomplete_fusion.binding import bind
    from incomplete_fusion.datasets import DFC2023InstanceDataset
    from incomplete_fusion.modalities import ModalitySet
    specs = [dict(name='rgb', channels=3, norm='dfc2023_rgb', units='dn8'),
             dict(name='sar', channels=1, norm='dfc2023_sar', units='amplitude'),
             dict(name='dsm', channels=1, norm='tile_zscore', units='metres')]
    pipeline = [
        dict(type='LoadMultimodalImages'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=True),
        dict(type='PackDetInputs'),
    ]
    with DefaultScope.overwrite_default_scope('mmdet'):  # as the runner sets it
        dataset = DFC2023InstanceDataset(data_root=root, pipeline=pipeline)
    bind(ModalitySet.from_config(specs), dataset)  # what the run's loops do
    return dataset


def time_in_process(dataset, repeats: int):
    """Without a DataLoader: samples per wall-clock second, samples per CPU second of
    this process (insensitive to other load on the machine), and the shares of wall and
    CPU time spent inside rasterio reads."""
    from incomplete_fusion.datasets import geo_io
    spent = [0.0, 0.0]
    original = geo_io.read_modality

    def timed(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start
            spent[1] += time.process_time() - cpu

    geo_io.read_modality = timed
    # LoadMultimodalImages imported the function by name: patch that reference too.
    from incomplete_fusion.datasets.transforms import loading
    loading.read_modality = timed
    try:
        dataset[0]  # warm up (imports, GDAL driver registration)
        spent[:] = [0.0, 0.0]
        start, cpu = time.perf_counter(), time.process_time()
        n = 0
        for _ in range(repeats):
            for i in range(len(dataset)):
                dataset[i]
                n += 1
        total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        geo_io.read_modality = original
        loading.read_modality = original
    return n / total, n / total_cpu, spent[0] / total, spent[1] / total_cpu


def time_value_checks(dataset, repeats: int):
    """Loading time per sample (wall and CPU seconds) of the fastest pass without and
    with the value checks (every file checked: the per-file cache is cleared before
    each checked pass), and the wall time spent inside the checks per sample.

    The time inside the checks is wall-clock: the CPU time of a short interval also
    counts the process's other threads (OpenMP workers spinning after a torch op)."""
    from incomplete_fusion.datasets import geo_io, value_checks
    from incomplete_fusion.datasets.transforms import LoadMultimodalImages
    loader = next(t for t in dataset.pipeline.transforms
                  if isinstance(t, LoadMultimodalImages))
    spent = [0.0]
    original = geo_io._check

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    geo_io._check = timed
    best = {(c, k): float('inf') for c in (False, True) for k in ('wall', 'cpu', 'in')}
    try:
        for rep in range(2 * max(2, repeats)):
            for checks in ((False, True) if rep % 2 else (True, False)):  # no order bias
                loader.check_values = checks
                value_checks.clear_cache()
                spent[0] = 0.0
                start, cpu = time.perf_counter(), time.process_time()
                for i in range(len(dataset)):
                    dataset[i]
                n = len(dataset)
                wall, cpu = (time.perf_counter() - start) / n, (time.process_time() - cpu) / n
                if wall < best[checks, 'wall']:
                    best[checks, 'wall'], best[checks, 'in'] = wall, spent[0] / n
                best[checks, 'cpu'] = min(best[checks, 'cpu'], cpu)
    finally:
        geo_io._check = original
        loader.check_values = True
    return best


def time_dataloader(dataset, repeats: int) -> float:
    """samples/s through a DataLoader with one worker, batch 1."""
    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader
    loader = DataLoader(dataset, batch_size=1, num_workers=1, collate_fn=pseudo_collate,
                        persistent_workers=True)
    iterator = iter(loader)
    next(iterator)  # worker start-up is not loading
    start = time.perf_counter()
    n = 0
    for _ in iterator:
        n += 1
    for _ in range(repeats - 1):
        for _ in loader:
            n += 1
    return n / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description='DFC2023 loading throughput')
    parser.add_argument('--num', type=int, default=64, help='number of generated tiles')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args(argv)

    import incomplete_fusion  # noqa: F401  (registers the components)
    from incomplete_fusion.testing import generate
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, 'dfc2023')
        generate('dfc2023', root, num_train=args.num, num_val=0, size=args.size, seed=0)
        dataset = build_dataset(root)
        rate, cpu_rate, share, cpu_share = time_in_process(dataset, args.repeats)
        checks = time_value_checks(dataset, args.repeats)
        loader_rate = time_dataloader(dataset, args.repeats)
        sample = dataset[0]
    print(f'DFC2023 instance loading, {args.size}x{args.size}, {args.num} tiles x '
          f'{args.repeats} passes, inputs {tuple(sample["inputs"].shape)} '
          f'{sample["inputs"].dtype}')
    print(f'in-process:             {rate:7.1f} samples/s wall, {cpu_rate:7.1f} samples per '
          'CPU-second')
    print(f'  share in rasterio reads (open + read + nodata/resample): {100 * share:5.1f} % '
          f'of wall time, {100 * cpu_share:5.1f} % of CPU time')
    print(f'DataLoader, 1 worker:   {loader_rate:7.1f} samples/s')
    print('value checks of the declared units, every file checked (the first epoch; later '
          'epochs check nothing), per sample, fastest of alternating passes:')
    for clock in ('wall', 'cpu'):
        off, on = checks[False, clock], checks[True, clock]
        print(f'  {clock:4s}: without checks {1000 * off:6.2f} ms, with checks {1000 * on:6.2f} ms'
              f' ({100 * (on / off - 1):+5.1f} %)')
    inside, share = checks[True, 'in'], checks[True, 'in'] / checks[True, 'wall']
    print(f'  inside the checks: {1000 * inside:5.2f} ms = {100 * share:4.1f} % of the loading '
          'time with checks (budget < 5 %)')
    print(f'(numpy {np.__version__})')


if __name__ == '__main__':
    main()
