"""Fakes of arxdeploy's ports, for the engine's tests and for users' own tests."""
