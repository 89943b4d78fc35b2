"""Tests of the local target: real processes behind the built-in router."""
