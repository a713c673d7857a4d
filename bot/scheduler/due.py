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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.calendar.working_time import WorkingTime
from bot.config import Settings
from handlers.i18n import Translator
from handlers.indicators import missing_indicators
from handlers.messages import outbox_payload
from handlers.notices import (
    Notice,
    monitoring_escalation,
    monitoring_follow_up,
    monitoring_prompt,
    stage_reminder,
)
from handlers.stage_outputs import MONITORED_STAGE, STAGE_OUTPUTS, StageOutput, deadline
from storage.models import (
    ActionPlanItem,
    Idea,
    IdeaAttachment,
    IdeaStatus,
    Identity,
    MonitoringReport,
    Opd,
    Programme,
    Role,
    User,
    UserRole,
)
from storage.outbox import NewMessage, OutboxMessage, OutboxState
from storage.programmes import all_programmes, current_programme

ACTIVE = (IdeaStatus.SUBMITTED, IdeaStatus.VERIFIED)
SCHEDULED_KINDS = ("reminder", "monitoring", "follow_up", "escalation")
PRIORITY = {"reminder": 5, "monitoring": 5, "follow_up": 6, "escalation": 4}


@dataclass(frozen=True)
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
    notice: Notice | None  # None: recorded as skipped, never sent
    skipped: bool = False


@dataclass
class _Person:
    name: str
    nip: str | None
    locale: str | None
    channel: str | None = None
    recipient: str | None = None


class DueComputation:
    """Everything due at ``now``. Reads in a few set queries, whatever the number of ideas."""

    def __init__(
        self, session: AsyncSession, now: datetime, settings: Settings, hours: WorkingTime
    ) -> None:
        self.session = session
        self.now = now
        self.settings = settings
        self.hours = hours
        self.today = now.astimezone(settings.tz).date()
        self._people: dict[int, _Person] = {}
        self._translators: dict[str, Translator] = {}

    async def run(self, *, include_existing: bool = False) -> list[Due]:
        existing = set() if include_existing else await self._existing_keys()
        found = [*await self._reminders(), *await self._monitoring()]
        return [d for d in found if d.key not in existing and d.channel]

    # -- reminders ----------------------------------------------------------------------------

    async def _reminders(self) -> list[Due]:
        programmes = {p.id: p for p in await all_programmes(self.session)}
        if not programmes:
            return []
        current = await current_programme(self.session, self.today)
        stages = sorted({s for o in STAGE_OUTPUTS for s in o.idea_stages})
        rows = (
            await self.session.execute(
                select(
                    Idea.id, Idea.name, Idea.owner_id, Idea.stage, Idea.launch_date,
                    Idea.programme_id,
                ).where(Idea.stage.in_(stages), Idea.status.in_(ACTIVE), Idea.owner_id.is_not(None))
            )
        ).all()  # fmt: skip
        if not rows:
            return []
        planned = set(await self.session.scalars(select(ActionPlanItem.idea_id).distinct()))
        found: list[Due] = []
        windows: dict[tuple[int, str], tuple[int, list[tuple[int, datetime]]] | None] = {}
        for idea_id, name, owner_id, stage, launch_date, programme_id in rows:
            programme = programmes.get(programme_id) if programme_id else current
            if programme is None:
                continue
            for output in STAGE_OUTPUTS:
                if stage not in output.idea_stages:
                    continue
                if output.output.value == "action_plan" and idea_id in planned:
                    continue
                if output.output.value == "launch_date" and launch_date is not None:
                    continue
                cache_key = (programme.id, output.output.value)
                if cache_key not in windows:
                    windows[cache_key] = self._reminder_window(programme, output)
                window = windows[cache_key]
                if window is None:
                    continue
                current_index, moments = window
                end = deadline(programme, output)
                assert end is not None
                for index, (days, moment) in enumerate(moments[: current_index + 1]):
                    skipped = index < current_index
                    found.append(
                        await self._reminder(
                            idea_id, name, owner_id or 0, output, end, days, moment, skipped
                        )
                    )
        return found

    def _reminder_window(
        self, programme: Programme, output: StageOutput
    ) -> tuple[int, list[tuple[int, datetime]]] | None:
        """The reminder due now for this programme's output, by index, with every moment."""
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
        return None if current is None else (current, moments)

    async def _reminder(
        self,
        idea_id: int,
        name: str,
        owner_id: int,
        output: StageOutput,
        end: date,
        days: int,
        moment: datetime,
        skipped: bool,
    ) -> Due:
        person = await self._person(owner_id)
        notice = None
        if not skipped:
            notice = stage_reminder(
                self._t(person),
                person=person.name,
                idea_id=idea_id,
                idea_name=name,
                output=output,
                deadline=end,
                days_before=days,
            )
        return Due(
            key=f"reminder:{idea_id}:{output.stage.value}:{days}",
            kind="reminder",
            due_at=moment,
            idea_id=idea_id,
            user_id=owner_id,
            recipient_nip=person.nip,
            channel=person.channel or "",
            recipient=person.recipient or "",
            notice=notice,
            skipped=skipped,
        )

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
        proven = await self._proven_indicators()
        found: list[Due] = []
        overdue: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
        for idea_id, name, owner, opd_id, launch_date in rows:
            owner_id = owner or 0  # never 0: the query wants an owner
            if idea_id in reported or (launch_date is not None and launch_date > prompt_day):
                continue
            person = await self._person(owner_id)
            t = self._t(person)
            found.append(
                self._due(
                    f"monitoring:{idea_id}:{period}", "monitoring", moment, idea_id, owner_id,
                    person,
                    monitoring_prompt(
                        t, person=person.name, idea_id=idea_id, idea_name=name, period=period,
                        missing=missing_indicators(proven.get(idea_id, set())),
                    ),
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
                        owner_id, person,
                        monitoring_follow_up(
                            t, person=person.name, idea_id=idea_id, idea_name=name,
                            period=period,
                        ),
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
        opd_names: dict[int, str] = {
            opd_id: name
            for opd_id, name in await self.session.execute(
                select(Opd.id, Opd.name).where(Opd.id.in_(list(overdue)))
            )
        }
        found: list[Due] = []
        for opd_id, ideas in overdue.items():
            # When the last of them became overdue: the escalation is due from then.
            moment = max(
                self._after_working_days(prompted[i], self.settings.escalation_days)
                for i, _, _ in ideas
            )
            for coordinator_id in coordinators.get(opd_id, []):
                person = await self._person(coordinator_id)
                listed = [(i, name, (await self._person(o)).name) for i, name, o in ideas]
                notice = monitoring_escalation(
                    self._t(person),
                    coordinator=person.name,
                    opd=opd_names.get(opd_id, "-"),
                    period=period,
                    overdue=listed,
                )
                found.append(
                    self._due(
                        f"escalation:{opd_id}:{period}:{coordinator_id}",
                        "escalation",
                        moment,
                        None,
                        coordinator_id,
                        person,
                        notice,
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

    async def _proven_indicators(self) -> dict[int, set[str]]:
        proven: dict[int, set[str]] = defaultdict(set)
        rows = await self.session.execute(
            select(IdeaAttachment.idea_id, IdeaAttachment.indicator)
            .join(Idea, Idea.id == IdeaAttachment.idea_id)
            .where(Idea.stage == MONITORED_STAGE, IdeaAttachment.indicator.is_not(None))
            .distinct()
        )
        for idea_id, indicator in rows:
            proven[idea_id].add(str(indicator))
        return proven

    async def _existing_keys(self) -> set[str]:
        rows = await self.session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.kind.in_(SCHEDULED_KINDS))
        )
        return set(rows)

    async def _person(self, user_id: int) -> _Person:
        if not self._people:
            await self._load_people()
        return self._people.get(user_id) or _Person(name="", nip=None, locale=None)

    async def _load_people(self) -> None:
        """Everyone at once: names, NIPs, languages, and where to reach them."""
        for user_id, name, nip, locale in await self.session.execute(
            select(User.id, User.full_name, User.nip, User.locale)
        ):
            self._people[user_id] = _Person(name or "", nip, locale)
        oldest = datetime.min.replace(tzinfo=self.now.tzinfo)
        best: dict[int, tuple[bool, datetime, int]] = {}
        for identity_id, user_id, channel, external_id, last in await self.session.execute(
            select(
                Identity.id,
                Identity.user_id,
                Identity.channel,
                Identity.external_id,
                Identity.last_inbound_at,
            ).where(Identity.blocked_at.is_(None))
        ):
            # As storage.queries.preferred_identity: the channel last written from.
            rank = (channel != "terminal", last or oldest, identity_id)
            person = self._people.get(user_id)
            if person is None or (user_id in best and best[user_id] >= rank):
                continue
            best[user_id] = rank
            person.channel, person.recipient = channel, external_id

    def _t(self, person: _Person) -> Translator:
        locale = person.locale or self.settings.locale
        if locale not in self._translators:
            self._translators[locale] = Translator(locale)
        return self._translators[locale]

    @staticmethod
    def _due(
        key: str,
        kind: str,
        moment: datetime,
        idea_id: int | None,
        user_id: int,
        person: _Person,
        notice: Notice,
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
            notice=notice,
        )


def as_messages(found: Iterable[Due]) -> list[NewMessage]:
    """The outbox rows for what is due (skipped ones recorded as such)."""
    rows: list[NewMessage] = []
    for due in found:
        payload = outbox_payload(due.notice.replies, due.notice.template) if due.notice else {}
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
