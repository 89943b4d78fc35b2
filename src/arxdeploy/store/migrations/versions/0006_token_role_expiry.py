"""A token has a role (viewer, approver, admin) and may expire; tokens made before are approvers that never expire.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="approver"))
        batch.add_column(sa.Column("expires_at", sa.String(32).with_variant(sa.DateTime(timezone=True), "postgresql")))


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("role")
