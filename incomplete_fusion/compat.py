"""Compatibility shims (filled in below)."""
