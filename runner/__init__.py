"""Parallel apply and lapply over shared objects, and YAML job files.

This package is installed as ``memshare.runner``; ``import memshare``
re-exports every name in ``__all__``.
"""

from __future__ import annotations

__all__: list[str] = []
