"""A token's owner may also be known by a GitHub login: their CI runs are then known as theirs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("github", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("github")
