"""The studies' library: compose a run's config (config root + preset + overrides),
run the project's tools on it, generate the study data, execute runs with
dependencies and publish/restore their results, and summarise seeds
(:class:`SeedStatistics`). The robustness and low-label studies are built on it;
their command lines are ``tools/robustness_study.py`` and ``tools/low_label_study.py``.
See docs/results.md.
"""
from .compose import REPO, common_options, compose_config, describe, parse_options, write_config
from .data import make_dfc2023_data
from .runs import Published, Run, config_digest, execute, read_subset_csv, subset_csv
from .seed_statistics import SeedStatistics, Stat, failure_weights
from .tool_runs import run_tool, test_all_subsets, tool_output, train

__all__ = ['REPO', 'Published', 'Run', 'SeedStatistics', 'Stat', 'common_options',
           'compose_config', 'config_digest', 'describe', 'execute', 'failure_weights',
           'make_dfc2023_data', 'parse_options', 'read_subset_csv', 'run_tool', 'subset_csv',
           'test_all_subsets', 'tool_output', 'train', 'write_config']
