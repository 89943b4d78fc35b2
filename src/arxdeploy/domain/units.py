"""Amounts as people read them."""

from __future__ import annotations


def size_text(size: int) -> str:
    """Bytes as ``512 B``, ``3.2 KiB`` or ``51.4 MiB``."""
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KiB" if size < 1024**2 else f"{size / 1024**2:.1f} MiB"
