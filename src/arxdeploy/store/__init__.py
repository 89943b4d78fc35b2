"""Durable stores for deployments and their event logs.

``arxdeploy.store.sql.SqlStore`` is the real one (SQLite or PostgreSQL). Import it lazily:
it pulls in SQLAlchemy, which ``arxdeploy --help`` must not pay for. This package's
``__init__`` and ``common`` stay free of third-party imports for the same reason.
"""
