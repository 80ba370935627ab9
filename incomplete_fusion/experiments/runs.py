"""How a study runs its steps: one :class:`Run` per pretraining,
training or evaluation, executed ``jobs`` at a time with dependencies honoured.

Each run writes its composed config once and refuses a changed one (budgets never
mix), reuses what is finished (an interrupted study resumes) and records its wall
time in ``<work_dir>/timing.csv``. A failed run does not stop the others. A run with
a :class:`Published` record copies its per-subset CSVs and a JSON record (config
digest, data, wall time) to the results folder, and is restored from there
instead of trained again, on any machine; a record of other settings is refused.
"""
import datetime
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..evaluation.subset_table import SubsetTable
from .compose import REPO, describe, write_config
from .tool_runs import test_all_subsets, tool_output, train

SPLITS = ('test', 'val')  # the table reports test; selections are made on val


def subset_csv(run_dir: str, split: str = 'test') -> str:
    """The per-subset table of a run on ``split``; in ``eval[_val]/`` so that the
    runner's config dump (into its work dir) leaves the composed config untouched."""
    return osp.join(run_dir, 'eval' if split == 'test' else f'eval_{split}', 'subset_eval.csv')


def read_subset_csv(path: str, metric: str) -> Tuple[List[str], List[Tuple[tuple, float]]]:
    """Modality names and ``[(subset, value of metric)]`` of a run's subset table."""
    table = SubsetTable.read_csv(path)
    if metric not in table.columns:
        raise KeyError(f'{path} has no column {metric!r}; columns: {table.columns}')
    return list(table.modalities), [(subset, values[metric]) for subset, values in table.rows]


def config_digest(cfg, work_dir: str) -> str:
    """SHA-256 of the composed config with ``work_dir`` (data, checkpoints) replaced:
    the same settings give the same digest in any checkout and work dir."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.replace(osp.abspath(work_dir), '<work_dir>').encode()).hexdigest()


@dataclass
class Published:
    """A run's committed results: ``<base>.{test,val}.csv`` and ``<base>.json``.

    ``settings`` (config digest, data, budget) must equal the record's, else the
    record is refused rather than mixed into a table of other settings.
    """

    base: str
    settings: dict

    def matches(self) -> bool:
        """True if the record exists with these settings; an error if with others."""
        if not all(osp.exists(p) for p in self.paths()):
            return False
        with open(self.base + '.json') as f:
            found = {k: v for k, v in json.load(f).items() if k in self.settings}
        if found != self.settings:
            diff = {k: (found.get(k), v) for k, v in self.settings.items() if found.get(k) != v}
            raise RuntimeError(f'{self.base}.json was made with other settings (recorded, '
                               f'now): {diff}; use another --results-dir or remove it')
        return True

    def paths(self) -> List[str]:
        return [f'{self.base}.{split}.csv' for split in SPLITS] + [self.base + '.json']

    def restore(self, run_dir: str) -> None:
        for split in SPLITS:
            os.makedirs(osp.dirname(subset_csv(run_dir, split)), exist_ok=True)
            shutil.copyfile(f'{self.base}.{split}.csv', subset_csv(run_dir, split))

    def write(self, run_dir: str, **facts) -> None:
        os.makedirs(osp.dirname(self.base), exist_ok=True)
        for split in SPLITS:
            shutil.copyfile(subset_csv(run_dir, split), f'{self.base}.{split}.csv')
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                                capture_output=True, text=True).stdout.strip()
        record = dict(self.settings, **facts, commit=commit or None,
                      finished=datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC'),
                      load_1min=round(os.getloadavg()[0], 2), cpus=os.cpu_count())
        with open(self.base + '.json', 'w') as f:
            json.dump(record, f, indent=1)
            f.write('\n')


@dataclass
class Run:
    """One step of the study: pretrain (MultiMAE), train (+ evaluate), or evaluate only."""

    kind: str  # 'pretrain' | 'train' | 'eval'
    variant: str
    seed: int
    out: str
    cfg: object  # mmengine Config
    preset: Optional[str]
    checkpoint: str  # the checkpoint it produces (pretrain, train) or evaluates (eval)
    needs: List['Run'] = field(default_factory=list)
    published: Optional[Published] = None
    needed_by: List['Run'] = field(default_factory=list)  # the runs that need its checkpoint
    eval_options: Dict[str, List[str]] = field(default_factory=dict)  # split -> overrides

    @property
    def name(self) -> str:
        return f'seed {self.seed} {self.variant}'

    @property
    def result(self) -> str:
        return self.checkpoint if self.kind == 'pretrain' else subset_csv(self.out)

    def restorable(self) -> bool:
        """Its results are published (and nothing left to run needs its checkpoint)."""
        if self.kind == 'pretrain':
            return bool(self.needed_by) and all(r.restorable() for r in self.needed_by)
        if not (self.published and self.published.matches()):
            return False
        return osp.exists(self.checkpoint) or all(r.restorable() for r in self.needed_by)

    def config_path(self) -> str:
        stems = [osp.splitext(osp.basename(p))[0] for p in (self.cfg.filename, self.preset) if p]
        return osp.join(self.out, '_'.join(stems) + '.py')

    def check_config(self) -> str:
        """Write the composed config, or check that the one already there is the same."""
        path = self.config_path()
        if osp.exists(path):
            with open(path) as f:
                if f.read() != self.cfg.pretty_text:
                    raise RuntimeError(
                        f'{self.name}: {path} was written with other settings; reusing it '
                        f'would mix budgets. Use another --work-dir or remove {self.out}')
            return path
        return write_config(self.cfg, self.out, self.preset)

    def commands(self) -> List[str]:
        config = self.config_path()
        train = f'tools/train.py {config} --work-dir {osp.join(self.out, "train")}'
        tests = [f'tools/test.py {config} {self.checkpoint} --all-subsets --work-dir '
                 f'{osp.dirname(subset_csv(self.out, split))}'
                 + (f' --cfg-options {" ".join(self.eval_options[split])}'
                    if self.eval_options.get(split) else '') for split in SPLITS]
        return {'pretrain': [train], 'train': [train, *tests], 'eval': tests}[self.kind]

    def execute(self) -> bool:
        """Run what is missing; False if everything was there already."""
        config = self.check_config()
        if self.restorable():
            if self.published:
                self.published.restore(self.out)
                print(f'{self.name}: restored from {self.published.base}.*', flush=True)
            else:
                print(f'{self.name}: not needed (what needs it is published)', flush=True)
            return False
        done = all(osp.exists(subset_csv(self.out, split)) for split in SPLITS)
        if self.kind != 'pretrain' and done or self.kind == 'pretrain' and osp.exists(
                self.checkpoint):
            print(f'{self.name}: reusing {self.result}', flush=True)
            if self.published and not self.published.matches():
                self.publish(None)
            return False
        missing = [r.name for r in self.needs if not osp.exists(r.checkpoint)]
        if missing:
            raise RuntimeError(f'{self.name} needs the checkpoints of {missing}, which are '
                               f'missing')
        if self.kind != 'eval' and not osp.exists(self.checkpoint):
            checkpoint = train(config, osp.join(self.out, 'train'))
            if osp.abspath(checkpoint) != osp.abspath(self.checkpoint):
                raise RuntimeError(f'{self.name}: training ended with {checkpoint}, expected '
                                   f'{self.checkpoint}')
        if self.kind != 'pretrain':
            for split in SPLITS:
                test_all_subsets(config, self.checkpoint,
                                 osp.dirname(subset_csv(self.out, split)),
                                 self.eval_options.get(split, ()))
        return True

    def publish(self, seconds: Optional[float], threads: Optional[int] = None) -> None:
        """Copy the results and a record (settings, wall time, machine load) to the
        results folder."""
        if self.published and self.kind != 'pretrain':
            self.published.write(self.out, variant=self.variant, seed=self.seed,
                                 kind=self.kind, model=describe(self.cfg),
                                 seconds=None if seconds is None else round(seconds, 1),
                                 threads=threads)


def execute(runs: List[Run], jobs: int, work_dir: str) -> Dict[str, str]:
    """Run everything (``jobs`` at a time); a failed run does not stop the others.
    Returns the failed runs' names and why."""
    threads = int(os.environ.get('OMP_NUM_THREADS') or os.cpu_count() or 1)
    env = {'OMP_NUM_THREADS': str(max(1, threads // jobs))}
    env['MKL_NUM_THREADS'] = env['OMP_NUM_THREADS']
    failed: Dict[str, str] = {}
    timing_lock = threading.Lock()

    def one(run: Run) -> None:
        blocked = [r.name for r in run.needs if r.name in failed]
        if blocked:
            failed[run.name] = f'needs {blocked}, which failed'
            return
        start = time.perf_counter()
        try:
            if jobs == 1:
                ran = run.execute()
            else:
                os.makedirs(run.out, exist_ok=True)
                log = osp.join(run.out, 'study.log')
                print(f'{run.name}: {run.kind} (log: {log})', flush=True)
                with tool_output(log, env):
                    ran = run.execute()
        except Exception as error:  # noqa: BLE001 - reported below, the others go on
            failed[run.name] = f'{type(error).__name__}: {error}'
            print(f'{run.name}: FAILED ({failed[run.name]})', flush=True)
            return
        if not ran:
            return
        seconds = time.perf_counter() - start
        print(f'{run.name}: {run.kind} done in {seconds / 60:.1f} min', flush=True)
        run.publish(seconds, int(env['OMP_NUM_THREADS']))
        timing = osp.join(work_dir, 'timing.csv')
        with timing_lock, open(timing, 'a') as f:
            if not f.tell():
                f.write('seed,variant,kind,seconds\n')
            f.write(f'{run.seed},{run.variant},{run.kind},{seconds:.1f}\n')

    if jobs == 1:
        for run in runs:
            one(run)
    else:
        # dependencies come first in `runs`, so they start before their dependants;
        # a dependant waits for them (they cannot be queued behind it)
        with ThreadPoolExecutor(jobs) as pool:
            futures = {}
            for run in runs:
                deps = [futures[r.name] for r in run.needs]
                futures[run.name] = pool.submit(
                    lambda run=run, deps=deps: ([d.result() for d in deps], one(run)))
            for future in futures.values():
                future.result()
    return failed
