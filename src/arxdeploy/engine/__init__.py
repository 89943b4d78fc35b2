"""Runs deployments: executes what the decision core asks for and records every result."""
