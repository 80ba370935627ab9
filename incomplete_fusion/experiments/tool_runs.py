"""Run the project's own tools (``tools/train.py``, ``tools/test.py``) on a composed
config, in a fresh interpreter each, as a user would. Runs in parallel threads send
their tools' output to their own log and share the CPU threads (:func:`tool_output`).
"""
import os
import os.path as osp
import subprocess
import sys
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, Optional, Sequence

from .compose import REPO

_OUTPUT = threading.local()  # where run_tool sends a tool's output, per thread


@contextmanager
def tool_output(log_file: str, env: Optional[Dict[str, str]] = None) -> Iterator[None]:
    """Inside: ``run_tool`` calls of this thread append the tool's output to ``log_file``
    and add ``env`` to its environment (runs in parallel must not interleave on the
    terminal, and share the CPU threads)."""
    _OUTPUT.log_file, _OUTPUT.env = log_file, env
    try:
        yield
    finally:
        _OUTPUT.log_file = _OUTPUT.env = None


def run_tool(script: str, *args: str) -> None:
    """Run ``tools/<script>`` of the checkout in a fresh interpreter."""
    tool = osp.join(REPO, 'tools', script)
    if not osp.isfile(tool):
        raise FileNotFoundError(f'{tool} does not exist: the studies run from a checkout')
    command = [sys.executable, tool, *args]
    log_file, env = getattr(_OUTPUT, 'log_file', None), getattr(_OUTPUT, 'env', None)
    if log_file is None:
        print(f'\n$ {" ".join(command)}', flush=True)
        subprocess.run(command, check=True, cwd=REPO)
        return
    with open(log_file, 'a') as log:
        log.write(f'\n$ {" ".join(command)}\n')
        log.flush()
        subprocess.run(command, check=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                       env=dict(os.environ, **(env or {})))


def train(config_path: str, work_dir: str) -> str:
    """``tools/train.py``; returns the last checkpoint."""
    run_tool('train.py', config_path, '--work-dir', work_dir)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def test_all_subsets(config_path: str, checkpoint: str, work_dir: str,
                     options: Sequence[str] = ()) -> str:
    """``tools/test.py --all-subsets`` (+ ``--cfg-options options``); returns the CSV of
    the per-subset table (:meth:`~incomplete_fusion.evaluation.SubsetTable.read_csv`)."""
    extra = ['--cfg-options', *options] if options else []
    run_tool('test.py', config_path, checkpoint, '--all-subsets', '--work-dir', work_dir,
             *extra)
    return osp.join(work_dir, 'subset_eval.csv')
