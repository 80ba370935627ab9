"""Generate the default synthetic dataset when a config points at it and it is missing.

Every config's ``data_root`` defaults to ``data/synthetic/<layout>`` so that it
runs out of the box; pointing ``data_root`` elsewhere (real DFC2023 / quadruplet
data) skips all of this.
"""
import os
import os.path as osp
import shutil
import time
from typing import Optional

from mmengine.config import Config

# default data_root -> (layout, generator arguments)
SYNTHETIC_ROOTS = {
    'data/synthetic/dfc2023': ('dfc2023', dict(num_train=16, num_val=4, size=256)),
    'data/synthetic/quadruplet': ('quadruplet', dict(num_train=16, num_val=4, size=256)),
}


def synthetic_layout(data_root: Optional[str]) -> Optional[str]:
    """The layout name if ``data_root`` is one of the default synthetic locations."""
    if not isinstance(data_root, str) or not data_root:
        return None
    entry = SYNTHETIC_ROOTS.get(osp.normpath(data_root))
    return entry[0] if entry else None


def generate_synthetic(layout: str, root: str, **kwargs) -> None:
    """Write ``layout`` to ``root`` atomically (temp folder, then rename)."""
    from ..datasets.synthetic import make_dfc2023, make_quadruplet
    make = dict(dfc2023=make_dfc2023, quadruplet=make_quadruplet)[layout]
    tmp = f'{osp.normpath(root)}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    make(tmp, **kwargs)
    try:
        os.rename(tmp, root)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        if not osp.isdir(root):
            raise


def ensure_synthetic_data(cfg: Config, timeout_s: float = 600.0) -> bool:
    """Generate the default synthetic data for ``cfg.data_root`` if it is missing.

    Only the process with ``RANK`` 0 generates; other ranks wait for the folder.
    Returns True if this call generated data.
    """
    root = cfg.get('data_root', None)
    layout = synthetic_layout(root)
    if layout is None or osp.isdir(root):
        return False
    if int(os.environ.get('RANK', '0')) != 0:
        deadline = time.monotonic() + timeout_s
        while not osp.isdir(root):
            if time.monotonic() > deadline:
                raise TimeoutError(f'waited {timeout_s:.0f} s for rank 0 to generate {root}')
            time.sleep(1.0)
        return False
    _, kwargs = SYNTHETIC_ROOTS[osp.normpath(root)]
    print(f'data_root {root} does not exist: generating the synthetic {layout} dataset there '
          f'({kwargs}); point data_root at real data to use it instead', flush=True)
    start = time.perf_counter()
    generate_synthetic(layout, root, **kwargs)
    print(f'generated {root} in {time.perf_counter() - start:.1f} s', flush=True)
    return True
