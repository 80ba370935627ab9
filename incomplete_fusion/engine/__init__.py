"""Training-loop pieces (hooks)."""
from . import hooks  # noqa: F401
