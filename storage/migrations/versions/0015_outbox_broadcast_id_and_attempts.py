"""outbox rows know their broadcast, when their request left, and whether it is in doubt

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("attempted_at", storage.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("in_doubt", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_broadcast_id_broadcasts"),
            "broadcasts",
            ["broadcast_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index(
            "ix_outbox_broadcast_id_state", ["broadcast_id", "state"], unique=False
        )
    # The rows of broadcasts queued before this revision were known by their key only.
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("kind", sa.String),
        sa.column("broadcast_id", sa.Integer),
    )
    broadcasts = sa.table("broadcasts", sa.column("id", sa.Integer))
    connection = op.get_bind()
    for (broadcast_id,) in connection.execute(sa.select(broadcasts.c.id)):
        connection.execute(
            outbox.update()
            .where(
                outbox.c.kind.in_(("broadcast", "broadcast_status")),
                outbox.c.key.startswith(f"broadcast:{broadcast_id}:"),
            )
            .values(broadcast_id=broadcast_id)
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_broadcast_id_state")
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_broadcast_id_broadcasts"), type_="foreignkey"
        )
        batch_op.drop_column("in_doubt")
        batch_op.drop_column("attempted_at")
        batch_op.drop_column("broadcast_id")
