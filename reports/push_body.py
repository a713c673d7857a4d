"""The digest as JSON for Bappeda's own systems: schema ``sasi.digest/1`` (see the README).

The body is built once, when the digest falls due, and stored as text in its outbox row:
every retry sends the same bytes (the same ``id`` and ``generated_at``), so a receiver can
refuse a replay by the id, and the signature of a retry is the signature of the first try.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from handlers.indicators import indicators
from storage.figures import ProgrammeFigures

SCHEMA = "sasi.digest/1"


def push_body(
    figures: ProgrammeFigures,
    *,
    key: str,
    week: str,
    generated_at: datetime,
    pemda: str | None,
    timezone: str,
    digest_id: str | None = None,
) -> str:
    """The JSON text of one digest push."""
    m = figures.monitoring
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "id": digest_id or str(uuid.uuid4()),
        "key": key,
        "generated_at": _iso(generated_at),
        "pemda": pemda,
        "timezone": timezone,
        "week": week,
        "window": {"start": _iso(figures.window.start), "end": _iso(figures.window.end)},
        "totals": {"ideas": figures.total_ideas, "new_ideas": figures.new_ideas},
        "funnel": [
            {"stage": c.stage.value, "status": c.status.value, "count": c.count}
            for c in figures.funnel
        ],
        "participation": {
            "roster_asn": figures.roster_asn,
            "asn_with_idea": figures.asn_with_idea,
            "roster_officials": figures.roster_officials,
            "officials_with_idea": figures.officials_with_idea,
            "opds": [
                {
                    "id": o.opd_id,
                    "name": o.name,
                    "short_name": o.short_name,
                    "ideas": o.ideas,
                    "new_ideas": o.new_ideas,
                    "roster_asn": o.roster_asn,
                    "asn_with_idea": o.asn_with_idea,
                    "roster_officials": o.roster_officials,
                    "officials_with_idea": o.officials_with_idea,
                }
                for o in figures.opds
            ],
            "opds_without_ideas": [o.opd_id for o in figures.opds_without_ideas],
        },
        "duplicates": {k.value: n for k, n in figures.duplicates.items()},
        "monitoring": {
            "period": m.period,
            "due": m.due,
            "reported": m.reported,
            "overdue": m.overdue_count,
            "overdue_by_opd": [
                {"opd_id": opd_id, "count": n}
                for opd_id, n in sorted(m.overdue_by_opd.items(), key=lambda i: (-i[1], i[0] or 0))
            ],
        },
        "obstacles": figures.obstacles,
        "eviden": {
            "ideas": figures.eviden_ideas,
            "missing": [
                {"indicator": e.indicator, "mandatory": e.mandatory, "missing": e.missing}
                for e in figures.missing_eviden(indicators())
            ],
        },
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
