"""The served metrics are tested on the API suite's world: a real server on a real socket over a
real store, deployments run by the engine on a fake target with a manual clock."""

from __future__ import annotations

from tests.api.conftest import world

__all__ = ["world"]  # the fixture, shared with tests/api
