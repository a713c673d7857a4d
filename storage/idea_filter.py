"""Which ideas a list, an export or the dashboard shows: one filter, one scope rule.

The scope (the OPDs a coordinator may see; None for everything) comes from
handlers/access.py's ``visible_opds``; the filter narrows within it, never beyond.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, false, func, or_

from storage.models import Idea, IdeaStatus, Stage

# Any select of ideas, whatever its columns (SQLAlchemy 2.1 types a Select by its columns).
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class IdeaFilter:
    """What someone asked to see. Empty fields filter nothing."""

    opd_ids: frozenset[int] = frozenset()
    stage: Stage | None = None
    status: IdeaStatus | None = None
    is_digital: bool | None = None
    affair: str | None = None  # an urusan code, as intake stores it
    text: str | None = None  # words in the name, problem or idea


def apply_filter(query: S, scope: frozenset[int] | None, wanted: IdeaFilter | None = None) -> S:
    """``query`` (which selects from ``ideas``) narrowed to the scope and the filter."""
    wanted = wanted or IdeaFilter()
    if scope is not None:
        if not scope:
            return query.where(false())
        query = query.where(Idea.opd_id.in_(sorted(scope)))
    if wanted.opd_ids:
        query = query.where(Idea.opd_id.in_(sorted(wanted.opd_ids)))
    if wanted.stage is not None:
        query = query.where(Idea.stage == wanted.stage)
    if wanted.status is not None:
        query = query.where(Idea.status == wanted.status)
    if wanted.is_digital is not None:
        query = query.where(Idea.is_digital.is_(wanted.is_digital))
    if wanted.affair:
        query = query.where(Idea.affair == wanted.affair)
    if wanted.text:
        for word in wanted.text.lower().split()[:8]:
            pattern = f"%{word.replace('%', '').replace('_', '')}%"
            query = query.where(
                or_(
                    func.lower(Idea.name).like(pattern),
                    func.lower(Idea.problem).like(pattern),
                    func.lower(Idea.idea).like(pattern),
                )
            )
    return query


def describe_filter(wanted: IdeaFilter | None) -> dict[str, object]:
    """The filter as the audit log keeps it: only what was asked for, as plain values."""
    if wanted is None:
        return {}
    shown: dict[str, object] = {}
    if wanted.opd_ids:
        shown["opd_ids"] = sorted(wanted.opd_ids)
    if wanted.stage is not None:
        shown["stage"] = wanted.stage.value
    if wanted.status is not None:
        shown["status"] = wanted.status.value
    if wanted.is_digital is not None:
        shown["is_digital"] = wanted.is_digital
    if wanted.affair:
        shown["affair"] = wanted.affair
    if wanted.text:
        shown["text"] = wanted.text
    return shown
