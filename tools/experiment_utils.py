"""Re-exports of :mod:`incomplete_fusion.experiments` under the names that
``tools/demo.py`` and ``benchmarks/*.py`` import; new code imports the package."""
from incomplete_fusion.experiments import (REPO, common_options, compose_config,  # noqa: F401
                                           describe, make_dfc2023_data, parse_options,
                                           read_subset_csv, run_tool, tool_output, train,
                                           write_config)
from incomplete_fusion.experiments import test_all_subsets as evaluate_subsets  # noqa: F401
