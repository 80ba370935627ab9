"""The full-model step of ``benchmarks/device_check.py``: train and infer per config.

Each config is built with ``Config.fromfile`` + ``MODELS.build`` (its modalities
bound as the loops would) and fed a synthetic batch (random inputs of the declared
modalities; three square instances, or random semantic labels), so that no
dataset is needed. Per precision (fp32, bf16 autocast): train img/s (best step
after the warm-up steps; forward, backward, AdamW), peak memory (GPU allocator, or the
process's peak RSS on CPU), inference ms per non-empty modality subset (absent
modalities all-NaN).
"""
import resource
import traceback

import torch
from bench_backbone import compare
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope
from mmengine.structures import InstanceData, PixelData
from mmseg.structures import SegDataSample

import incomplete_fusion  # noqa: F401  registers the modules
from incomplete_fusion.binding import bind, modality_set_of
from incomplete_fusion.modalities import keep_only, nonempty_subsets


def synthetic_batch(cfg, specs, batch: int, size: int):
    """Inputs and data samples for a det (Mask2Former instance) or seg model."""
    g = torch.Generator().manual_seed(0)
    is_det = 'panoptic_head' in cfg.model
    num_classes = (cfg.model.panoptic_head.num_things_classes if is_det
                   else cfg.model.decode_head.num_classes)
    inputs, samples, side = [], [], size // 4
    for _ in range(batch):
        inputs.append(torch.cat([
            torch.randint(0, s.num_classes, (1, size, size), generator=g).float()
            if s.is_categorical else torch.randn(s.channels, size, size, generator=g)
            for s in specs]))
        meta = dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0))
        labels = torch.randint(0, num_classes, (3,), generator=g)
        if is_det:  # three square instances
            corners = torch.randint(0, size - side, (3, 2), generator=g)
            masks = torch.zeros(3, size, size, dtype=torch.uint8)
            for i, (y, x) in enumerate(corners.tolist()):
                masks[i, y:y + side, x:x + side] = 1
            boxes = torch.cat([corners.flip(1), corners.flip(1) + side], 1).float()
            sample = DetDataSample(metainfo=meta)
            sample.gt_instances = InstanceData(masks=BitmapMasks(masks.numpy(), size, size),
                                               bboxes=boxes, labels=labels)
        else:
            sample = SegDataSample(metainfo=meta)
            sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, size, size),
                                                             generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def measure_config(args, config: str, sizes: dict, sync, autocast) -> dict:
    cfg = Config.fromfile(config)
    if args.attention:
        cfg.model.backbone.attention_impl = args.attention
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    mset = modality_set_of(cfg)
    result = dict(size=sizes['size'], batch=sizes['batch'])
    for amp in (False, True):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).to(args.device)
        bind(mset, model)
        batch = synthetic_batch(cfg, mset.specs, sizes['batch'], sizes['size'])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        if args.device == 'cuda':
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        losses = []

        def train_step():
            data = model.data_preprocessor(batch, True)
            with autocast(args.device, amp):
                loss, _ = model.parse_losses(model(**data, mode='loss'))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(round(loss.item(), 4))
            sync()

        model.train()
        seconds = compare({'train': train_step}, sizes['iters'], warmup=sizes['warmup'])['train']
        row = dict(train_img_per_s=round(sizes['batch'] / seconds, 2), losses=losses)
        if args.device == 'cuda':
            row['peak_train_mib'] = round(torch.cuda.max_memory_allocated() / 2**20)
        else:
            row['peak_rss_mib'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        model.eval()
        subsets = {}
        for subset in nonempty_subsets(mset.active):
            inputs = [keep_only(x.clone(), subset, mset.specs) for x in batch['inputs']]
            data = dict(inputs=inputs, data_samples=batch['data_samples'])
            subsets['+'.join(subset)] = lambda data=data: (model.test_step(data), sync())
        with torch.no_grad(), autocast(args.device, amp):
            seconds = compare(subsets, sizes['infer_runs'], warmup=sizes['infer_warmup'])
        row['infer_ms'] = {key: round(1000 * s, 1) for key, s in seconds.items()}
        result['bf16' if amp else 'fp32'] = row
        del model, optimizer
    return result


def measure_configs(args, sizes: dict, sync, autocast) -> dict:
    """Every config of ``args.configs``; a failing one is reported, the next still runs."""
    results = {}
    for config in args.configs:
        try:
            results[config] = measure_config(args, config, sizes, sync, autocast)
        except Exception:  # noqa: BLE001  the next config still runs
            results[config] = dict(error=traceback.format_exc()[-1500:])
    return results
