"""broadcasts (/siaran): what was sent to which segment, and where its progress is shown

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_key", sa.String(length=40), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("mime_type", sa.String(length=120), nullable=True),
        sa.Column("segment", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("progress_channel", sa.String(length=20), nullable=False),
        sa.Column("progress_chat", sa.String(length=160), nullable=False),
        sa.Column("progress_message_id", sa.Integer(), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", storage.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_broadcasts_sender_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        sa.UniqueConstraint("draft_key", name=op.f("uq_broadcasts_draft_key")),
    )
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_broadcasts_finished_at"), ["finished_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_broadcasts_sender_id"), ["sender_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("broadcasts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_broadcasts_sender_id"))
        batch_op.drop_index(batch_op.f("ix_broadcasts_finished_at"))
    op.drop_table("broadcasts")
