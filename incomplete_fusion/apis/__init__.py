"""Filled in by its own module files."""
