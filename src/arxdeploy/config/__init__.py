"""Typed configuration: ``deployment_config.yaml`` loaded, checked and resolved.

This package is the adapter that owns pydantic and PyYAML; nothing outside it imports them.
Its names are imported on first use (PEP 562): a reading command that finds its config's
essentials in the cache (``config.essentials``) imports neither pydantic nor PyYAML.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arxdeploy.config.loader import LoadedConfig, check_files, database_script_problems, json_schema, load
    from arxdeploy.config.models import Config

# `effects.unused_keys` (what `validate` warns about) is imported from its module: reading
# commands do not load it.
__all__ = ["Config", "LoadedConfig", "check_files", "database_script_problems", "json_schema", "load"]
_HOME = {name: "arxdeploy.config.loader" for name in __all__} | {"Config": "arxdeploy.config.models"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOME[name]), name)
