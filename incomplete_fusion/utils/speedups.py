"""Cache mmengine's yapf formatting of the config text.

A runner formats the same config with yapf three or four times (log, work-dir
dump, ``RuntimeInfoHook``, visualizer backend), which dominates a short run's
start-up on a small CPU machine. The formatted text of an identical input is
identical, so caching it changes nothing but time. Enabled by this package's
tools, not on import. See docs/results.md#training-step-costs.
"""
from typing import Dict, Tuple

_MAX_ENTRIES = 16


def cache_config_formatting() -> None:
    """Memoise ``FormatCode`` as used by ``mmengine.config.Config.pretty_text`` (idempotent)."""
    import mmengine.config.config as mm_config
    original = mm_config.FormatCode
    if getattr(original, 'is_cached_by_incomplete_fusion', False):
        return
    cache: Dict[Tuple[str, str], tuple] = {}

    def format_code(text, *args, **kwargs):
        key = (text, repr((args, sorted(kwargs.items()))))
        if key not in cache:
            if len(cache) >= _MAX_ENTRIES:
                cache.clear()
            cache[key] = original(text, *args, **kwargs)
        return cache[key]

    format_code.is_cached_by_incomplete_fusion = True
    mm_config.FormatCode = format_code
