"""The signed push of the digest, against a loopback receiver that checks the signature.

The receiver does what Bappeda's side should: it verifies ``X-SASI-Signature`` over the raw
body, refuses an id it accepted before, and here fails twice (HTTP 500) before accepting.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import open_core
from bot.config import Settings
from bot.push.sender import SIGNATURE_HEADER, signature
from storage.outbox import OutboxMessage, OutboxState
from tests.figures_fixture import seed

SECRET = "rahasia-bappeda"


@dataclass
class Receiver:
    answers: list[int]  # statuses to answer in turn; 200 once they run out
    requests: list[tuple[bytes, bool]] = field(default_factory=list)  # body, signature valid
    accepted: list[str] = field(default_factory=list)  # ids
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(request.headers.get(SIGNATURE_HEADER, ""), expected)
        self.requests.append((raw, valid))
        if not valid:
            return web.Response(status=401)
        digest_id = json.loads(raw)["id"]
        if digest_id in self.accepted:
            return web.Response(status=409)  # a replay
        status = self.answers.pop(0) if self.answers else 200
        if status == 200:
            self.accepted.append(digest_id)
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver(answers=[500, 500])
    app = web.Application()
    app.router.add_post("/sasi", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    found.url = f"http://127.0.0.1:{port}/sasi"
    try:
        yield found
    finally:
        await runner.cleanup()


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def test_the_signature_is_an_hmac_of_the_raw_body() -> None:
    body = b'{"schema":"sasi.digest/1"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature(SECRET, body) == f"sha256={expected}"


async def test_retried_until_accepted_then_never_again(
    settings: Settings, receiver: Receiver
) -> None:
    settings = replace(settings, bappeda_push_url=receiver.url, bappeda_push_secret=SECRET)
    # Monday 5 April 2027, 07:30 in Jakarta: the digest's moment.
    clock = Clock(datetime(2027, 4, 5, 0, 30, tzinfo=UTC))
    async with open_core(settings, migrate=False, clock=clock) as core:
        await seed(core.database)
        assert core.push is not None
        assert await core.scheduler.tick() == 1  # the push row; no chats are configured
        assert await core.scheduler.tick() == 0
        for _ in range(8):
            await core.push.send_due()
            clock.now += timedelta(hours=1)  # past any backoff
        async with core.database.sessions() as session:
            row = await session.scalar(
                select(OutboxMessage).where(OutboxMessage.key == "push:digest:2027-W14")
            )
        assert row is not None and row.state == OutboxState.SENT.value
        assert (row.kind, row.channel, row.attempts) == ("digest_push", "push", 3)
    assert len(receiver.requests) == 3  # 500, 500, 200 and nothing after
    assert all(valid for _, valid in receiver.requests)
    bodies = {raw for raw, _ in receiver.requests}
    assert len(bodies) == 1  # the same bytes every time: same id, same timestamp
    assert len(receiver.accepted) == 1
    body = json.loads(bodies.pop())
    assert body["schema"] == "sasi.digest/1"
    assert body["id"] == receiver.accepted[0]
    assert body["key"] == "push:digest:2027-W14" and body["week"] == "2027-W14"
    assert body["generated_at"] == "2027-04-05T00:30:00Z"
    assert body["window"] == {"start": "2027-03-29T00:30:00Z", "end": "2027-04-05T00:30:00Z"}
    assert body["totals"] == {"ideas": 7, "new_ideas": 0}
    assert body["participation"]["roster_asn"] == 7
    assert body["participation"]["asn_with_idea"] == 5
    assert body["monitoring"]["period"] == "2027-03"  # April's first week: March is final
    assert {e["indicator"] for e in body["eviden"]["missing"]} >= {"regulasi", "sdm"}


async def test_a_receiver_that_is_down_loses_nothing(settings: Settings) -> None:
    # Nothing listens on this port: every attempt is a refused connection, retried.
    settings = replace(
        settings, bappeda_push_url="http://127.0.0.1:9/sasi", bappeda_push_secret=SECRET
    )
    clock = Clock(datetime(2027, 4, 5, 0, 30, tzinfo=UTC))
    async with open_core(settings, migrate=False, clock=clock) as core:
        await core.scheduler.tick()
        assert core.push is not None
        for _ in range(10):
            await core.push.send_due()
            clock.now += timedelta(hours=2)
        async with core.database.sessions() as session:
            row = await session.scalar(
                select(OutboxMessage).where(OutboxMessage.kind == "digest_push")
            )
        assert row is not None
        assert row.state == OutboxState.PENDING.value and row.attempts == 10
        assert row.result is not None and "Connect" in row.result


async def test_a_push_refused_for_a_day_is_told_once_and_still_retried(
    settings: Settings, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """The receiver answers 500 for ever: the push keeps retrying, and after 24 hours the
    Bappeda officer and the admin are each told once (one outbox row each), in their own
    language; ``python -m bot outbox`` shows the push and that they were told."""
    from bot.admin_cli import print_outbox
    from bot.push.alert import STUCK_KIND
    from storage.models import Identity, Role, User, UserRole

    receiver.answers = [500] * 100
    settings = replace(settings, bappeda_push_url=receiver.url, bappeda_push_secret=SECRET)
    start = datetime(2027, 4, 5, 0, 30, tzinfo=UTC)
    clock = Clock(start)
    async with open_core(settings, migrate=False, clock=clock) as core:
        await seed(core.database)
        async with core.database.writing(), core.database.sessions() as session, session.begin():
            for name, role, locale in (("Sari", Role.BAPPEDA, "id"), ("Admin", Role.ADMIN, "en")):
                person = User(full_name=name, locale=locale, registered_at=start)
                session.add(person)
                await session.flush()
                session.add(UserRole(user_id=person.id, role=role, opd_id=None))
                session.add(Identity(user_id=person.id, channel="terminal", external_id=name))
        inbox: list[tuple[str, str]] = []

        async def terminal(external_id: str, replies: Any, *, template: Any = None) -> None:
            inbox.extend((external_id, r.text) for r in replies)

        core.register_sender("terminal", terminal)
        await core.scheduler.tick()
        assert core.push is not None

        async def alerts() -> list[OutboxMessage]:
            async with core.database.sessions() as session:
                found = await session.scalars(
                    select(OutboxMessage).where(OutboxMessage.kind == STUCK_KIND)
                )
                return list(found)

        while clock.now - start < timedelta(hours=23):
            await core.push.send_due()
            clock.now += timedelta(hours=1)
        assert await alerts() == []  # refused, but not for a day yet
        for _ in range(6):  # past 24 hours, several more refusals
            await core.push.send_due()
            clock.now += timedelta(hours=1)
        told = await alerts()
        assert sorted(r.recipient for r in told) == ["Admin", "Sari"]
        await core.sender.send_due("terminal")
        # Sari also gets the digest itself; the alerts are one message each.
        told_texts = [(to, text) for to, text in inbox if "2027-W14" in text]
        assert sorted(to for to, _ in told_texts) == ["Admin", "Sari"]
        texts = dict(told_texts)
        assert texts["Sari"].startswith("Perhatian: rekap mingguan 2027-W14")
        assert "HTTP 500" in texts["Sari"] and receiver.url in texts["Sari"]
        assert texts["Admin"].startswith("Attention: the weekly digest 2027-W14")
        async with core.database.sessions() as session:
            push = await session.scalar(
                select(OutboxMessage).where(OutboxMessage.kind == "digest_push")
            )
        assert push is not None and push.state == OutboxState.PENDING.value
        assert len(receiver.accepted) == 0 and len(receiver.requests) == push.attempts

        await core.push.send_due()  # later refusals tell nobody again
        clock.now += timedelta(hours=2)
        await core.push.send_due()
        assert len(await alerts()) == 2

    capsys.readouterr()
    assert await print_outbox(settings) == 0
    out = capsys.readouterr().out
    assert "push_stuck\tsent\t2" in out
    [line] = [x for x in out.splitlines() if x.startswith("push:digest:2027-W14\t")]
    assert "\tpending\t2027-04-05T00:30:00Z\t" in line and line.endswith("\tyes (2)")
    assert "HTTP 500" in line
