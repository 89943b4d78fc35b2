"""Typed configuration: ``deployment_config.yaml`` loaded, checked and resolved.

This package is the adapter that owns pydantic and PyYAML; nothing outside it imports them.
"""

from __future__ import annotations

from arxdeploy.config.effects import unused_keys
from arxdeploy.config.loader import LoadedConfig, check_files, database_script_problems, json_schema, load
from arxdeploy.config.models import Config

__all__ = ["Config", "LoadedConfig", "check_files", "database_script_problems", "json_schema", "load", "unused_keys"]
