"""The programme's figures for a scope and a week: what the digest, /rekap and the dashboard show.

Every number comes from a SQL aggregate (GROUP BY, COUNT DISTINCT): a Pemda with 100,000
ideas is read in a handful of small result sets, never as ORM rows. The scope is the set of
OPDs a person may see (handlers/access.py ``visible_opds``; None = the whole Pemda).

Definitions (the README's digest section repeats them):

- *funnel*: every idea in scope, counted by stage and status;
- *participation*: ideas not withdrawn; an ASN takes part when they own or collaborate on
  such an idea, matched by NIP to the roster and counted in their roster OPD;
  *officials* are roster entries with echelon II, III or IV (``"II"``, ``"III.b"``, ``"IV.a"``);
- *monitoring*: active (submitted/verified) ideas in Deliver with an owner, launched by
  ``launched_by`` (or without a launch date), are due for ``period``; those without a report
  for it are overdue;
- *eviden*: active ideas in Deliver or Display; per IID indicator, how many have no file
  tagged with it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    Text,
    and_,
    case,
    distinct,
    false,
    func,
    or_,
    select,
    union,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import (
    Idea,
    IdeaAttachment,
    IdeaCollaborator,
    IdeaStatus,
    MonitoringReport,
    Opd,
    RosterEntry,
    SimilarityDecision,
    SimilarityDecisionKind,
    Stage,
    User,
)

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])
ACTIVE = (IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED)
EVIDEN_STAGES = (Stage.DELIVER, Stage.DISPLAY)
MONITORED = Stage.DELIVER
IDEAS_T = cast(Table, Idea.__table__)
COLLAB_T = cast(Table, IdeaCollaborator.__table__)
ROSTER_T = cast(Table, RosterEntry.__table__)
USERS_T = cast(Table, User.__table__)
REPORTS_T = cast(Table, MonitoringReport.__table__)
FILES_T = cast(Table, IdeaAttachment.__table__)
DECISIONS_T = cast(Table, SimilarityDecision.__table__)
OPDS_T = cast(Table, Opd.__table__)
# Plain columns: no ORM objects are built for the rows counted.
_IDEAS, _COLLAB, _ROSTER, _USERS = IDEAS_T.c, COLLAB_T.c, ROSTER_T.c, USERS_T.c
_REPORTS, _FILES, _DECISIONS, _OPDS = REPORTS_T.c, FILES_T.c, DECISIONS_T.c, OPDS_T.c


class IndicatorLike(Protocol):
    """An IID indicator as handlers/indicators.py reads it (storage does not import it)."""

    @property
    def code(self) -> str: ...

    @property
    def mandatory(self) -> bool: ...


@dataclass(frozen=True)
class Window:
    """A stretch of time, ``start`` included, ``end`` excluded (aware datetimes)."""

    start: datetime
    end: datetime

    @classmethod
    def week_before(cls, moment: datetime) -> Window:
        """The seven days up to ``moment``: "this week" in a Monday morning digest."""
        return cls(moment - timedelta(days=7), moment)


@dataclass(frozen=True)
class FunnelCell:
    stage: Stage
    status: IdeaStatus
    count: int


@dataclass(frozen=True)
class OpdFigures:
    """One OPD's participation. Shares are None where the roster lists nobody."""

    opd_id: int
    name: str
    short_name: str
    ideas: int  # ideas not withdrawn
    new_ideas: int  # of them, created in the window
    roster_asn: int
    asn_with_idea: int
    roster_officials: int  # echelon II-IV
    officials_with_idea: int

    @property
    def asn_share(self) -> float | None:
        return self.asn_with_idea / self.roster_asn if self.roster_asn else None

    @property
    def officials_share(self) -> float | None:
        return self.officials_with_idea / self.roster_officials if self.roster_officials else None


@dataclass(frozen=True)
class OverdueIdea:
    idea_id: int
    idea_name: str
    owner_id: int
    owner_name: str
    opd_id: int | None
    opd_name: str | None


@dataclass(frozen=True)
class MonitoringFigures:
    period: str  # "2027-03"
    due: int
    reported: int
    overdue_by_opd: dict[int | None, int]  # OPD id (None: no OPD) → overdue ideas
    overdue: tuple[OverdueIdea, ...]  # at most ``overdue_limit``, by OPD name then idea id

    @property
    def overdue_count(self) -> int:
        return self.due - self.reported

    @property
    def response_rate(self) -> float | None:
        return self.reported / self.due if self.due else None


@dataclass(frozen=True)
class MissingEviden:
    indicator: str  # the code in handlers/data/iid_indicators.tsv
    mandatory: bool
    missing: int  # ideas in Deliver/Display without a file tagged with it
    of: int  # ideas in Deliver/Display


@dataclass(frozen=True)
class ProgrammeFigures:
    scope: frozenset[int] | None
    window: Window
    total_ideas: int  # every idea in scope, any stage and status
    new_ideas: int  # created in the window (any status)
    funnel: tuple[FunnelCell, ...]  # non-zero cells only, in stage then status order
    opds: tuple[OpdFigures, ...]  # every OPD in scope, by name, those without ideas too
    duplicates: dict[SimilarityDecisionKind, int]  # decisions in the window, by kind
    monitoring: MonitoringFigures
    obstacles: dict[str, int]  # obstacle code → reports of the period naming it
    eviden_proven: dict[str, int]  # indicator code → ideas in Deliver/Display with eviden
    eviden_ideas: int  # active ideas in Deliver/Display
    extra: dict[str, Any] = field(default_factory=dict)  # room for later figures

    def missing_eviden(self, wanted: Iterable[IndicatorLike]) -> tuple[MissingEviden, ...]:
        """Per indicator (``handlers.indicators.indicators()``), the ideas still without it."""
        return tuple(
            MissingEviden(
                i.code, i.mandatory, self.eviden_ideas - self.eviden_proven.get(i.code, 0),
                self.eviden_ideas,
            )
            for i in wanted
        )  # fmt: skip

    def stage_counts(self) -> dict[Stage, int]:
        counts = dict.fromkeys(Stage, 0)
        for cell in self.funnel:
            counts[cell.stage] += cell.count
        return counts

    def status_counts(self) -> dict[IdeaStatus, int]:
        counts = dict.fromkeys(IdeaStatus, 0)
        for cell in self.funnel:
            counts[cell.status] += cell.count
        return counts

    @property
    def opds_without_ideas(self) -> tuple[OpdFigures, ...]:
        return tuple(o for o in self.opds if o.ideas == 0)

    @property
    def roster_asn(self) -> int:
        return sum(o.roster_asn for o in self.opds)

    @property
    def asn_with_idea(self) -> int:
        return sum(o.asn_with_idea for o in self.opds)

    @property
    def roster_officials(self) -> int:
        return sum(o.roster_officials for o in self.opds)

    @property
    def officials_with_idea(self) -> int:
        return sum(o.officials_with_idea for o in self.opds)

    def furthest_behind(self, limit: int = 10) -> tuple[OpdFigures, ...]:
        """The OPDs with the smallest share of ASN taking part (those without a roster by
        their number of ideas), fewest ideas first among equals."""

        def rank(opd: OpdFigures) -> tuple[float, int, str]:
            share = opd.asn_share
            return (share if share is not None else 2.0, opd.ideas, opd.name)

        return tuple(sorted(self.opds, key=rank)[:limit])


def official(echelon: Any) -> ColumnElement[bool]:
    """Echelon II, III or IV, however the roster writes it ("II", "III.b", "iv.a")."""
    upper = func.upper(echelon)
    return or_(upper.like("II%"), upper.like("IV%"))


def _in_scope(column: Any, scope: frozenset[int] | None) -> ColumnElement[bool] | None:
    if scope is None:
        return None
    if not scope:
        return false()
    return cast(ColumnElement[bool], column.in_(sorted(scope)))


def _scoped(query: Q, column: Any, scope: frozenset[int] | None) -> Q:
    condition = _in_scope(column, scope)
    return query if condition is None else query.where(condition)


async def programme_figures(
    session: AsyncSession,
    *,
    scope: Collection[int] | None,
    window: Window,
    period: str,
    launched_by: date | None = None,
    overdue_limit: int = 50,
    apart: Apart | None = None,
) -> ProgrammeFigures:
    """Every figure of the digest for ``scope`` (None: all OPDs), ``window`` and the
    monitoring ``period`` ("2027-03").

    ``apart`` (``participation_apart(database)``): participation, the costliest query by far
    (the roster matched by NIP to everyone on a live idea), runs on another connection
    meanwhile, so the database works on it beside the other queries on another core.
    """
    opd_scope = None if scope is None else frozenset(scope)
    side: asyncio.Task[_Counts] | None = None
    if apart is not None:
        side = asyncio.ensure_future(apart(opd_scope))
    try:
        funnel, total, new_total = await _funnel(session, opd_scope, window)
        opd_counts = await _opd_counts(session, opd_scope, window)
        monitoring = await monitoring_figures(
            session, scope=opd_scope, period=period, launched_by=launched_by, limit=overdue_limit
        )
        eviden_proven = await _eviden(session, opd_scope)
        duplicates = await _duplicates(session, opd_scope, window)
        obstacles = await _obstacles(session, opd_scope, period)
        taking_part = await side if side is not None else await _taking_part(session, opd_scope)
    finally:
        if side is not None and not side.done():
            side.cancel()
    return ProgrammeFigures(
        scope=opd_scope,
        window=window,
        total_ideas=total,
        new_ideas=new_total,
        funnel=funnel,
        opds=_opds(opd_counts, taking_part),
        duplicates=duplicates,
        monitoring=monitoring,
        obstacles=obstacles,
        eviden_proven=eviden_proven,
        # The funnel's active Deliver/Display cells: no pass of its own.
        eviden_ideas=sum(
            c.count for c in funnel if c.stage in EVIDEN_STAGES and c.status in ACTIVE
        ),
    )


async def _funnel(
    session: AsyncSession, scope: frozenset[int] | None, window: Window
) -> tuple[tuple[FunnelCell, ...], int, int]:
    """The funnel's cells, all ideas and those new in the window, in one pass over
    ix_ideas_stage_status (the eviden count is the funnel's Deliver/Display active cells)."""
    is_new = and_(_IDEAS.created_at >= window.start, _IDEAS.created_at < window.end)
    query = _scoped(
        select(
            _IDEAS.stage, _IDEAS.status, func.count(), func.sum(case((is_new, 1), else_=0))
        ).group_by(_IDEAS.stage, _IDEAS.status),
        _IDEAS.opd_id,
        scope,
    )
    counts: dict[tuple[Stage, IdeaStatus], int] = {}
    new_total = 0
    for s, st, n, new in await session.execute(query):
        counts[(Stage(s), IdeaStatus(st))] = int(n)
        new_total += int(new or 0)
    cells = tuple(
        FunnelCell(stage, status, counts[(stage, status)])
        for stage in Stage
        for status in IdeaStatus
        if counts.get((stage, status))
    )
    return cells, sum(counts.values()), new_total


_Counts = dict[int, tuple[int, int]]
_OpdCounts = tuple[list[tuple[int, str, str]], _Counts, _Counts]


async def _opd_counts(
    session: AsyncSession, scope: frozenset[int] | None, window: Window
) -> _OpdCounts:
    """The OPDs, their ideas (all, new) and their roster (all, officials)."""
    opd_rows = (
        await session.execute(
            _scoped(select(_OPDS.id, _OPDS.name, _OPDS.short_name), _OPDS.id, scope).order_by(
                _OPDS.name
            )
        )
    ).all()
    is_new = and_(_IDEAS.created_at >= window.start, _IDEAS.created_at < window.end)
    ideas = {
        opd_id: (int(n), int(new or 0))
        for opd_id, n, new in await session.execute(
            _scoped(
                select(_IDEAS.opd_id, func.count(), func.sum(case((is_new, 1), else_=0)))
                .where(_IDEAS.status != IdeaStatus.WITHDRAWN.value)
                .group_by(_IDEAS.opd_id),
                _IDEAS.opd_id,
                scope,
            )
        )
    }
    roster = {
        opd_id: (int(n), int(officials or 0))
        for opd_id, n, officials in await session.execute(
            _scoped(
                select(
                    _ROSTER.opd_id,
                    func.count(),
                    func.sum(case((official(_ROSTER.echelon), 1), else_=0)),
                ).group_by(_ROSTER.opd_id),
                _ROSTER.opd_id,
                scope,
            )
        )
    }
    return [(int(i), n, sn) for i, n, sn in opd_rows], ideas, roster


def _opds(counts: _OpdCounts, taking_part: _Counts) -> tuple[OpdFigures, ...]:
    opd_rows, ideas, roster = counts
    return tuple(
        OpdFigures(
            opd_id=opd_id,
            name=name,
            short_name=short,
            ideas=ideas.get(opd_id, (0, 0))[0],
            new_ideas=ideas.get(opd_id, (0, 0))[1],
            roster_asn=roster.get(opd_id, (0, 0))[0],
            asn_with_idea=taking_part.get(opd_id, (0, 0))[0],
            roster_officials=roster.get(opd_id, (0, 0))[1],
            officials_with_idea=taking_part.get(opd_id, (0, 0))[1],
        )
        for opd_id, name, short in opd_rows
    )


Apart = Callable[[frozenset[int] | None], Awaitable[dict[int, tuple[int, int]]]]


def participation_apart(database: Database) -> Apart | None:
    """How participation runs beside the other figures: on PostgreSQL on a second connection
    of the same pool (the server runs each connection's query in its own process: 655 against
    805 ms for the whole figures, alternating runs at load average 8.5). None on SQLite: a
    thread with its own connection gained nothing there in the same test (688 against 650
    ms), so SQLite keeps one connection and runs the queries in turn."""
    if database.is_sqlite:
        return None
    sessions = database.sessions

    async def on_a_second_connection(scope: frozenset[int] | None) -> _Counts:
        async with sessions() as session:
            return await _taking_part(session, scope)

    return on_a_second_connection


async def _taking_part(
    session: AsyncSession, scope: frozenset[int] | None
) -> dict[int, tuple[int, int]]:
    """Per roster OPD: the ASN on a live idea, and of them the officials."""
    # People on a live idea, as owner or collaborator, wherever the idea belongs: an ASN
    # of Dinkes helping a Disdukcapil idea takes part, and is counted in Dinkes.
    live = _IDEAS.status != IdeaStatus.WITHDRAWN.value
    participants = union(
        select(_IDEAS.owner_id.label("user_id")).where(live, _IDEAS.owner_id.is_not(None)),
        select(_COLLAB.user_id.label("user_id"))
        .select_from(COLLAB_T.join(IDEAS_T, _COLLAB.idea_id == _IDEAS.id))
        .where(live),
    ).subquery()
    return {
        opd_id: (int(n), int(officials or 0))
        for opd_id, n, officials in await session.execute(
            _scoped(
                # The union holds each person once, and a NIP is unique among users and
                # in the roster: plain counts, no DISTINCT over 100,000 rows.
                select(
                    _ROSTER.opd_id,
                    func.count(),
                    func.sum(case((official(_ROSTER.echelon), 1), else_=0)),
                )
                .select_from(
                    participants.join(USERS_T, _USERS.id == participants.c.user_id).join(
                        ROSTER_T, _ROSTER.nip == _USERS.nip
                    )
                )
                .group_by(_ROSTER.opd_id),
                _ROSTER.opd_id,
                scope,
            )
        )
    }


async def _duplicates(
    session: AsyncSession, scope: frozenset[int] | None, window: Window
) -> dict[SimilarityDecisionKind, int]:
    """Decisions taken in the window by submitters of the scope's OPDs (their own OPD)."""
    query = (
        select(_DECISIONS.decision, func.count())
        .select_from(DECISIONS_T.join(USERS_T, _USERS.id == _DECISIONS.user_id))
        .where(_DECISIONS.created_at >= window.start, _DECISIONS.created_at < window.end)
        .group_by(_DECISIONS.decision)
    )
    query = _scoped(query, _USERS.opd_id, scope)
    counts = {SimilarityDecisionKind(k): int(n) for k, n in await session.execute(query)}
    return {kind: counts.get(kind, 0) for kind in SimilarityDecisionKind}


def _due_ideas(query: Q, scope: frozenset[int] | None, launched_by: date | None) -> Q:
    """``query`` narrowed to the ideas that owe a monitoring report."""
    query = query.where(
        _IDEAS.stage == MONITORED.value,
        _IDEAS.status.in_([s.value for s in ACTIVE]),
        _IDEAS.owner_id.is_not(None),
    )
    if launched_by is not None:
        query = query.where(or_(_IDEAS.launch_date.is_(None), _IDEAS.launch_date <= launched_by))
    return _scoped(query, _IDEAS.opd_id, scope)


async def monitoring_figures(
    session: AsyncSession,
    *,
    scope: Collection[int] | None,
    period: str,
    launched_by: date | None = None,
    limit: int = 50,
) -> MonitoringFigures:
    """Who owed a monitoring report for ``period`` and who sent it."""
    opd_scope = None if scope is None else frozenset(scope)
    reported_ids = select(_REPORTS.idea_id).where(_REPORTS.period == period)
    is_reported = _IDEAS.id.in_(reported_ids)
    by_opd: dict[int | None, int] = {}
    total = reported = 0
    # The due ideas' conditions on ideas itself (no IN over a copy of it): SQLite and
    # PostgreSQL seek ix_ideas_stage_status to Deliver's active ideas.
    per_opd = _due_ideas(
        select(_IDEAS.opd_id, func.count(), func.sum(case((is_reported, 1), else_=0))),
        opd_scope,
        launched_by,
    ).group_by(_IDEAS.opd_id)
    for opd_id, n, done in await session.execute(per_opd):
        total += int(n)
        reported += int(done or 0)
        if int(n) - int(done or 0):
            by_opd[opd_id] = int(n) - int(done or 0)
    if limit <= 0:
        return MonitoringFigures(period, total, reported, by_opd, ())
    overdue_rows = await session.execute(
        _due_ideas(
            select(
                _IDEAS.id, _IDEAS.name, _IDEAS.owner_id, _USERS.full_name, _IDEAS.opd_id,
                _OPDS.name,
            ).select_from(
                IDEAS_T.join(USERS_T, _USERS.id == _IDEAS.owner_id).outerjoin(
                    OPDS_T, _OPDS.id == _IDEAS.opd_id
                )
            ),
            opd_scope,
            launched_by,
        )
        .where(~is_reported)
        .order_by(_OPDS.name, _IDEAS.id)
        .limit(limit)
    )  # fmt: skip
    overdue = tuple(
        OverdueIdea(int(i), name, int(owner), owner_name or "", opd_id, opd_name)
        for i, name, owner, owner_name, opd_id, opd_name in overdue_rows
    )
    return MonitoringFigures(period, total, reported, by_opd, overdue)


async def _obstacles(
    session: AsyncSession, scope: frozenset[int] | None, period: str
) -> dict[str, int]:
    """Obstacle categories named in the period's reports. The JSON lists are grouped as
    text (a handful of distinct combinations), then counted per category here."""
    as_text = sql_cast(_REPORTS.obstacles, Text)
    query = (
        select(as_text, func.count())
        .select_from(REPORTS_T.join(IDEAS_T, _IDEAS.id == _REPORTS.idea_id))
        .where(_REPORTS.period == period)
        .group_by(as_text)
    )
    counts: Counter[str] = Counter()
    for raw, n in await session.execute(_scoped(query, _IDEAS.opd_id, scope)):
        try:
            codes = json.loads(raw) if raw else []
        except ValueError:
            continue
        for code in set(codes) if isinstance(codes, list) else ():
            counts[str(code)] += int(n)
    return dict(counts.most_common())


async def _eviden(session: AsyncSession, scope: frozenset[int] | None) -> dict[str, int]:
    """Per indicator, the active Deliver/Display ideas with a file tagged with it."""
    live = and_(
        _IDEAS.stage.in_([s.value for s in EVIDEN_STAGES]),
        _IDEAS.status.in_([s.value for s in ACTIVE]),
    )
    proven_query = (
        select(_FILES.indicator, func.count(distinct(_FILES.idea_id)))
        .select_from(FILES_T.join(IDEAS_T, _IDEAS.id == _FILES.idea_id))
        .where(live, _FILES.indicator.is_not(None))
        .group_by(_FILES.indicator)
    )
    return {
        code: int(n)
        for code, n in await session.execute(_scoped(proven_query, _IDEAS.opd_id, scope))
    }
