"""Who triggered the CI run that asked for a deployment, and a link to that run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("actor", sa.Text))
        batch.add_column(sa.Column("run_url", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("run_url")
        batch.drop_column("actor")
