"""What is due at a moment, computed from the database: never kept as in-memory jobs.

- **Stage reminders** ``reminder:<idea>:<stage>:<days>``: N working days before a stage
  output's deadline (``handlers.stage_outputs``), at the set hour, to owners whose output is
  missing. A reminder is due from its moment until the next one's; one whose moment passed
  while a later one became due (the bot was down for days) is recorded as skipped, never
  sent late on top of the newer one.
- **Monthly monitoring** ``monitoring:<idea>:<YYYY-MM>`` on the N-th working day of the
  month (and until the month ends), to owners of Deliver-stage ideas without a report for
  that month; a **follow-up** ``follow_up:<idea>:<YYYY-MM>`` K working days after the prompt
  went out; an **escalation**
  ``escalation:<opd>:<YYYY-MM>:<coordinator>`` to the OPD's coordinators M working days after.

Every message has an idempotency key, so computing the same moment twice (a restart, a
second process) adds nothing: the outbox refuses a key it holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.working_time import WorkingTime
from bot.config import Settings
from handlers.stage_outputs import MONITORED_STAGE, STAGE_OUTPUTS, Output, StageOutput, deadline
from storage.models import (
    ActionPlanItem,
    Idea,
    IdeaStatus,
    Identity,
    MonitoringReport,
    Programme,
    Role,
    User,
    UserRole,
)
from storage.outbox import NewMessage, OutboxMessage, OutboxState
from storage.programmes import all_programmes, current_programme

ACTIVE = (IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED)
_IDEAS = cast(Table, Idea.__table__)
_USERS = cast(Table, User.__table__)
_IDENTITIES = cast(Table, Identity.__table__)
SCHEDULED_KINDS = ("reminder", "monitoring", "follow_up", "escalation")
PRIORITY = {"reminder": 5, "monitoring": 5, "follow_up": 6, "escalation": 4}


@dataclass(slots=True)
class Due:
    """One message due at the moment asked about (or recorded as skipped)."""

    key: str
    kind: str
    due_at: datetime
    idea_id: int | None
    user_id: int
    recipient_nip: str | None
    channel: str
    recipient: str
    spec: dict[str, Any]  # what the message is about; its words are composed at send time
    skipped: bool = False


@dataclass
class _Person:
    nip: str | None
    channel: str | None = None
    recipient: str | None = None


class DueComputation:
    """Everything due at ``now``. Reads in a few set queries, whatever the number of ideas."""

    def __init__(
        self,
        session: AsyncSession,
        now: datetime,
        settings: Settings,
        hours: WorkingTime,
        *,
        with_nips: bool = False,
    ) -> None:
        self.session = session
        self.now = now
        self.settings = settings
        self.hours = hours
        self.today = now.astimezone(settings.tz).date()
        self._people: dict[int, _Person] = {}
        self._with_nips = with_nips  # only the operators' view prints them

    async def run(self, *, include_existing: bool = False) -> list[Due]:
        existing = set() if include_existing else await self._existing_keys()
        await self._load_people()
        found = [*await self._reminders(), *await self._monitoring()]
        return [d for d in found if d.key not in existing and d.channel]

    # -- reminders ----------------------------------------------------------------------------

    async def _reminders(self) -> list[Due]:
        programmes = {p.id: p for p in await all_programmes(self.session)}
        if not programmes:
            return []
        current = await current_programme(self.session, self.today)
        stages = sorted({s for o in STAGE_OUTPUTS for s in o.idea_stages})
        ideas = _IDEAS.c  # plain columns: no ORM loading for 100,000 rows
        query = select(
            ideas.id,
            ideas.owner_id,
            ideas.stage,
            ideas.launch_date,
            ideas.programme_id,
        ).where(ideas.stage.in_(stages), ideas.status.in_(ACTIVE), ideas.owner_id.is_not(None))
        rows = (await self.session.execute(query)).all()  # fmt: skip
        if not rows:
            return []
        planned = set(await self.session.scalars(select(ActionPlanItem.idea_id).distinct()))
        found: list[Due] = []
        # Per programme and output, what each idea missing it is due (shared by them all).
        plans: dict[tuple[int, Output], list[tuple[str, datetime, dict[str, Any], bool]]] = {}
        for idea_id, owner_id, stage, launch_date, programme_id in rows:
            programme = programmes.get(programme_id) if programme_id else current
            if programme is None:
                continue
            for output in STAGE_OUTPUTS:
                if stage not in output.idea_stages:
                    continue
                if output.output is Output.ACTION_PLAN and idea_id in planned:
                    continue
                if output.output is Output.LAUNCH_DATE and launch_date is not None:
                    continue
                plan_key = (programme.id, output.output)
                plan = plans.get(plan_key)
                if plan is None:
                    plan = plans[plan_key] = self._reminder_plan(programme, output)
                if not plan:
                    continue
                person = self._person(owner_id or 0)
                for suffix, moment, spec, skipped in plan:
                    found.append(
                        Due(
                            f"reminder:{idea_id}{suffix}", "reminder", moment, idea_id,
                            owner_id or 0, person.nip, person.channel or "",
                            person.recipient or "", spec, skipped,
                        )
                    )  # fmt: skip
        return found

    def _reminder_plan(
        self, programme: Programme, output: StageOutput
    ) -> list[tuple[str, datetime, dict[str, Any], bool]]:
        """The reminders of this output to record now: the one due (and, as skipped, those
        before it): key suffix, moment, what it is about, skipped."""
        window = self._reminder_window(programme, output)
        if window is None:
            return []
        end, current, moments = window
        stage = output.stage.value
        return [
            (
                f":{stage}:{days}",
                moment,
                {"kind": "reminder", "stage": stage, "deadline": end.isoformat(), "days": days},
                index < current,
            )
            for index, (days, moment) in enumerate(moments[: current + 1])
        ]

    def _reminder_window(
        self, programme: Programme, output: StageOutput
    ) -> tuple[date, int, list[tuple[int, datetime]]] | None:
        """The deadline of this programme's output, the reminder due now (by index), and
        every reminder's moment."""
        end = deadline(programme, output)
        if end is None:
            return None
        hour = self.settings.monitoring_time
        moments = [
            (
                days,
                self.hours.next_open(
                    self.hours.at(self.hours.working_days_before(end, days), hour.hour, hour.minute)
                ),
            )
            for days in sorted(set(self.settings.reminder_days), reverse=True)
        ]
        after_deadline = self.hours.at(end + timedelta(days=1), 0)
        current = None
        for index, (_days, moment) in enumerate(moments):
            following = moments[index + 1][1] if index + 1 < len(moments) else after_deadline
            if moment <= self.now < following:
                current = index
        return None if current is None else (end, current, moments)

    # -- monthly monitoring ------------------------------------------------------------------

    def _prompt_moment(self, year: int, month: int) -> datetime:
        day = self.hours.nth_working_day(year, month, self.settings.monitoring_day)
        hour = self.settings.monitoring_time
        return self.hours.next_open(self.hours.at(day, hour.hour, hour.minute))

    def _after_working_days(self, sent_at: datetime, days: int) -> datetime:
        local_day = sent_at.astimezone(self.settings.tz).date()
        hour = self.settings.monitoring_time
        later = self.hours.add_working_days(local_day, days)
        return self.hours.next_open(self.hours.at(later, hour.hour, hour.minute))

    def period(self) -> tuple[str, datetime] | None:
        """This month's monitoring period once its prompt time came; None before it.

        Last month is never asked about in a new month: an idea that entered Deliver on the
        1st has nothing to report for the month before.
        """
        moment = self._prompt_moment(self.today.year, self.today.month)
        if self.now < moment:
            return None
        return f"{self.today.year:04d}-{self.today.month:02d}", moment

    async def _monitoring(self) -> list[Due]:
        current = self.period()
        if current is None:
            return []
        period, moment = current
        prompt_day = moment.astimezone(self.settings.tz).date()
        rows = (
            await self.session.execute(
                select(Idea.id, Idea.name, Idea.owner_id, Idea.opd_id, Idea.launch_date).where(
                    Idea.stage == MONITORED_STAGE,
                    Idea.status.in_(ACTIVE),
                    Idea.owner_id.is_not(None),
                )
            )
        ).all()
        if not rows:
            return []
        reported = set(
            await self.session.scalars(
                select(MonitoringReport.idea_id).where(MonitoringReport.period == period)
            )
        )
        prompted = await self._sent_prompts(period)
        found: list[Due] = []
        overdue: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
        for idea_id, name, owner, opd_id, launch_date in rows:
            owner_id = owner or 0  # never 0: the query wants an owner
            if idea_id in reported or (launch_date is not None and launch_date > prompt_day):
                continue
            person = self._person(owner_id)
            spec = {"kind": "monitoring", "period": period}
            found.append(
                self._due(
                    f"monitoring:{idea_id}:{period}", "monitoring", moment, idea_id, owner_id,
                    person, spec,
                )
            )  # fmt: skip
            sent_at = prompted.get(idea_id)
            if sent_at is None:
                continue  # follow-ups count from the prompt that really went out
            follow_at = self._after_working_days(sent_at, self.settings.follow_up_days)
            if self.now >= follow_at:
                found.append(
                    self._due(
                        f"follow_up:{idea_id}:{period}", "follow_up", follow_at, idea_id,
                        owner_id, person, {"kind": "follow_up", "period": period},
                    )
                )  # fmt: skip
            if opd_id is not None and self.now >= self._after_working_days(
                sent_at, self.settings.escalation_days
            ):
                overdue[opd_id].append((idea_id, name, owner_id))
        found += await self._escalations(period, prompted, overdue)
        return found

    async def _escalations(
        self,
        period: str,
        prompted: dict[int, datetime],
        overdue: dict[int, list[tuple[int, str, int]]],
    ) -> list[Due]:
        if not overdue:
            return []
        coordinators: dict[int, list[int]] = defaultdict(list)
        for user_id, opd_id in await self.session.execute(
            select(UserRole.user_id, UserRole.opd_id).where(
                UserRole.role == Role.COORDINATOR, UserRole.opd_id.in_(list(overdue))
            )
        ):
            if opd_id is not None:
                coordinators[opd_id].append(user_id)
        found: list[Due] = []
        for opd_id, ideas in overdue.items():
            # When the last of them became overdue: the escalation is due from then.
            moment = max(
                self._after_working_days(prompted[i], self.settings.escalation_days)
                for i, _, _ in ideas
            )
            spec = {
                "kind": "escalation",
                "opd_id": opd_id,
                "period": period,
                "ideas": [i for i, _, _ in ideas],
            }
            for coordinator_id in coordinators.get(opd_id, []):
                person = self._person(coordinator_id)
                found.append(
                    self._due(
                        f"escalation:{opd_id}:{period}:{coordinator_id}",
                        "escalation",
                        moment,
                        None,
                        coordinator_id,
                        person,
                        spec,
                    )
                )
        return found

    # -- reading ------------------------------------------------------------------------------

    async def _sent_prompts(self, period: str) -> dict[int, datetime]:
        rows = await self.session.execute(
            select(OutboxMessage.idea_id, OutboxMessage.sent_at).where(
                OutboxMessage.kind == "monitoring",
                OutboxMessage.state == OutboxState.SENT.value,
                OutboxMessage.key.like(f"monitoring:%:{period}"),
            )
        )
        return {idea_id: sent_at for idea_id, sent_at in rows if idea_id and sent_at}

    async def _existing_keys(self) -> set[str]:
        rows = await self.session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.kind.in_(SCHEDULED_KINDS))
        )
        return set(rows)

    def _person(self, user_id: int) -> _Person:
        return self._people.get(user_id) or _Person(nip=None)

    async def _load_people(self) -> None:
        """Everyone at once: NIPs (for the operators' view) and where to reach them."""
        users, identities = _USERS.c, _IDENTITIES.c
        if self._with_nips:
            for user_id, nip in await self.session.execute(select(users.id, users.nip)):
                self._people[user_id] = _Person(nip)
        oldest = datetime.min.replace(tzinfo=self.now.tzinfo)
        best: dict[int, tuple[bool, datetime, int]] = {}
        for identity_id, user_id, channel, external_id, last in await self.session.execute(
            select(
                identities.id,
                identities.user_id,
                identities.channel,
                identities.external_id,
                identities.last_inbound_at,
            ).where(identities.blocked_at.is_(None))
        ):
            # As storage.queries.preferred_identity: the channel last written from.
            rank = (channel != "terminal", last or oldest, identity_id)
            if user_id in best and best[user_id] >= rank:
                continue
            person = self._people.setdefault(user_id, _Person(None))
            best[user_id] = rank
            person.channel, person.recipient = channel, external_id

    @staticmethod
    def _due(
        key: str,
        kind: str,
        moment: datetime,
        idea_id: int | None,
        user_id: int,
        person: _Person,
        spec: dict[str, Any],
    ) -> Due:
        return Due(
            key=key,
            kind=kind,
            due_at=moment,
            idea_id=idea_id,
            user_id=user_id,
            recipient_nip=person.nip,
            channel=person.channel or "",
            recipient=person.recipient or "",
            spec=spec,
        )


def as_messages(found: Iterable[Due]) -> list[NewMessage]:
    """The outbox rows for what is due (skipped ones recorded as such)."""
    rows: list[NewMessage] = []
    for due in found:
        payload: dict[str, Any] = {} if due.skipped else {"notice": due.spec}
        rows.append(
            NewMessage(
                key=due.key,
                kind=due.kind,
                channel=due.channel,
                recipient=due.recipient,
                payload=payload,
                due_at=due.due_at,
                user_id=due.user_id,
                idea_id=due.idea_id,
                priority=PRIORITY.get(due.kind, 5),
                working_time=True,
                state=OutboxState.SKIPPED if due.skipped else OutboxState.PENDING,
                result="superseded by a later reminder" if due.skipped else None,
            )
        )
    return rows
