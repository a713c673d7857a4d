"""whatsapp outgoing messages and their delivery statuses

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_outgoing_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=128), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("template_name", sa.String(length=100), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_status_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whatsapp_outgoing_messages")),
        sa.UniqueConstraint("wamid", name=op.f("uq_whatsapp_outgoing_messages_wamid")),
    )
    with op.batch_alter_table("whatsapp_outgoing_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_whatsapp_outgoing_messages_recipient"), ["recipient"], unique=False
        )
    op.create_table(
        "message_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wamid", sa.String(length=128), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_title", sa.String(length=200), nullable=True),
        sa.Column("error_details", sa.String(length=500), nullable=True),
        sa.Column("status_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_statuses")),
        sa.UniqueConstraint("wamid", "status", name=op.f("uq_message_statuses_wamid")),
    )
    with op.batch_alter_table("message_statuses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_statuses_wamid"), ["wamid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message_statuses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_statuses_wamid"))
    op.drop_table("message_statuses")
    with op.batch_alter_table("whatsapp_outgoing_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whatsapp_outgoing_messages_recipient"))
    op.drop_table("whatsapp_outgoing_messages")
