"""arxdeploy: safe, reversible blue-green deployments."""

__version__ = "0.1.0"
