"""identity aliases (a WhatsApp BSUID beside a phone number); addresses up to 160 characters

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Columns that hold a WhatsApp address: a BSUID is longer than the 64 characters of old.
_ADDRESS_COLUMNS = (
    ("identities", "external_id", False),
    ("whatsapp_outgoing_messages", "recipient", False),
    ("message_statuses", "recipient", True),
)


def upgrade() -> None:
    op.create_table(
        "identity_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("alias", sa.String(length=160), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name=op.f("fk_identity_aliases_identity_id_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_aliases")),
        sa.UniqueConstraint("channel", "alias", name=op.f("uq_identity_aliases_channel")),
    )
    with op.batch_alter_table("identity_aliases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_aliases_identity_id"), ["identity_id"], unique=False
        )
    for table, column, nullable in _ADDRESS_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=64),
                type_=sa.String(length=160),
                existing_nullable=nullable,
            )


def downgrade() -> None:
    for table, column, nullable in _ADDRESS_COLUMNS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                column,
                existing_type=sa.String(length=160),
                type_=sa.String(length=64),
                existing_nullable=nullable,
            )
    with op.batch_alter_table("identity_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_aliases_identity_id"))
    op.drop_table("identity_aliases")
