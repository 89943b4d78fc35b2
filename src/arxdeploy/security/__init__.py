"""Security gates: each checks one thing before anything changes and returns a ``GateResult``."""
