"""inbound updates that cannot be processed are set aside

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_updates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("failed_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("failure", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_updates", schema=None) as batch_op:
        batch_op.drop_column("failure")
        batch_op.drop_column("failed_at")
        batch_op.drop_column("attempts")
