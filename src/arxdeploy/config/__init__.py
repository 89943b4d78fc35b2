"""Typed configuration: ``deployment_config.yaml`` loaded, checked and resolved.

This package is the adapter that owns pydantic and PyYAML; nothing outside it imports them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

_PLUGINS_OFF = "PYDANTIC_DISABLE_PLUGINS"


@contextmanager
def _without_pydantic_plugins() -> Iterator[None]:
    """Build the config's models with pydantic's plugins off (its documented switch, set only
    meanwhile). A plugin is code from another installed package that pydantic hands every input a
    model validates, and the config's input holds the values of ``${VAR}``: secrets. Off, pydantic
    also skips reading the entry points of every installed package (~5 ms of each command)."""
    before = os.environ.get(_PLUGINS_OFF)
    os.environ[_PLUGINS_OFF] = "__all__"
    try:
        yield
    finally:
        if before is None:
            del os.environ[_PLUGINS_OFF]
        else:
            os.environ[_PLUGINS_OFF] = before


with _without_pydantic_plugins():  # pydantic builds each model's validator when its class is made
    from arxdeploy.config.loader import LoadedConfig, check_files, database_script_problems, json_schema, load
    from arxdeploy.config.models import Config

# `effects.unused_keys` (what `validate` warns about) is imported from its module: reading
# commands do not load it.
__all__ = ["Config", "LoadedConfig", "check_files", "database_script_problems", "json_schema", "load"]
