"""The security gates run before anything changes, and the frame that runs them.

Each gate is a plain function: it takes keyword arguments for what it needs (the runner passes
only those its signature names) and returns one ``domain.security.GateResult`` (or a tuple of
them). ``runner`` runs the enabled ones in order; ``output`` and ``sarif`` show what they found.
Scanners and network clients are imported inside the gates, never here: ``status`` loads nothing
of this package.
"""
