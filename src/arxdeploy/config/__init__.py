"""Typed configuration: ``deployment_config.yaml`` loaded, checked and resolved.

This package is the adapter that owns pydantic and PyYAML; nothing outside it imports them.
"""

from __future__ import annotations

from arxdeploy.config.loader import LoadedConfig, check_files, database_script_problems, json_schema, load
from arxdeploy.config.models import Config

# `effects.unused_keys` (what `validate` warns about) is imported from its module: reading
# commands do not load it.
__all__ = ["Config", "LoadedConfig", "check_files", "database_script_problems", "json_schema", "load"]
