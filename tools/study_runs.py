"""How the robustness study runs its steps: one :class:`Run` per pretraining,
training or evaluation, executed ``jobs`` at a time with dependencies honoured.

Each run writes its composed config once and refuses a changed one (budgets never
mix), reuses what is finished (an interrupted study resumes) and records its wall
time in ``<work_dir>/timing.csv``. A failed run does not stop the others.
"""
import os
import os.path as osp
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import experiment_utils as eu


def subset_csv(run_dir: str) -> str:
    """The per-subset table of a run; in ``eval/`` so that the runner's config dump
    (into its work dir) leaves the composed config in the run dir untouched."""
    return osp.join(run_dir, 'eval', 'subset_eval.csv')


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

    @property
    def name(self) -> str:
        return f'seed {self.seed} {self.variant}'

    @property
    def result(self) -> str:
        return self.checkpoint if self.kind == 'pretrain' else subset_csv(self.out)

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
        return eu.write_config(self.cfg, self.out, self.preset)

    def commands(self) -> List[str]:
        config = self.config_path()
        train = f'tools/train.py {config} --work-dir {osp.join(self.out, "train")}'
        test = (f'tools/test.py {config} {self.checkpoint} --all-subsets '
                f'--work-dir {osp.join(self.out, "eval")}')
        return {'pretrain': [train], 'train': [train, test], 'eval': [test]}[self.kind]

    def execute(self) -> bool:
        """Run what is missing; False if everything was there already."""
        config = self.check_config()
        if osp.exists(self.result):
            print(f'{self.name}: reusing {self.result}', flush=True)
            return False
        missing = [r.name for r in self.needs if not osp.exists(r.result)]
        if missing:
            raise RuntimeError(f'{self.name} needs the results of {missing}, which are missing')
        if self.kind != 'eval' and not osp.exists(self.checkpoint):
            checkpoint = eu.train(config, osp.join(self.out, 'train'))
            if osp.abspath(checkpoint) != osp.abspath(self.checkpoint):
                raise RuntimeError(f'{self.name}: training ended with {checkpoint}, expected '
                                   f'{self.checkpoint}')
        if self.kind != 'pretrain':
            eu.evaluate_subsets(config, self.checkpoint, osp.join(self.out, 'eval'))
        return True


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
                with eu.tool_output(log, env):
                    ran = run.execute()
        except Exception as error:  # noqa: BLE001 - reported below, the others go on
            failed[run.name] = f'{type(error).__name__}: {error}'
            print(f'{run.name}: FAILED ({failed[run.name]})', flush=True)
            return
        if not ran:
            return
        seconds = time.perf_counter() - start
        print(f'{run.name}: {run.kind} done in {seconds / 60:.1f} min', flush=True)
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
