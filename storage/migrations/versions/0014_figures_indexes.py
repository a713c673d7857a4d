"""covering indexes for the programme's figures (digest, dashboard)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 14:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The funnel, the OPDs' idea counts, monitoring and eviden read ideas by stage and status
    # only: from this index alone, never the rows with their long texts.
    op.create_index("ix_ideas_stage_status", "ideas", ["stage", "status", "opd_id", "created_at"])
    # Per OPD (the participation table, a coordinator's scope): from the index alone too.
    op.create_index("ix_ideas_opd_status", "ideas", ["opd_id", "status", "stage", "created_at"])
    op.drop_index("ix_ideas_opd_id", table_name="ideas")
    # The roster counted per OPD from the index alone (200,000 rows for a large Pemda).
    op.create_index("ix_asn_roster_opd_echelon", "asn_roster", ["opd_id", "echelon"])
    op.drop_index("ix_asn_roster_opd_id", table_name="asn_roster")
    # A month's reports: monitoring, obstacles and the dashboard's latest reports.
    op.create_index(
        "ix_monitoring_reports_period", "monitoring_reports", ["period", "submitted_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_monitoring_reports_period", table_name="monitoring_reports")
    op.create_index("ix_asn_roster_opd_id", "asn_roster", ["opd_id"])
    op.drop_index("ix_asn_roster_opd_echelon", table_name="asn_roster")
    op.create_index("ix_ideas_opd_id", "ideas", ["opd_id"])
    op.drop_index("ix_ideas_opd_status", table_name="ideas")
    op.drop_index("ix_ideas_stage_status", table_name="ideas")
