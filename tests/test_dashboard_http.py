"""The dashboard over HTTP, as every role: the one-time link from /dasbor, the session cookie,
every page and JSON endpoint in and out of scope, forged/reused/expired links, sign-out,
the audit rows, the live version and the exports."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.dashboard.routes import COOKIE, DASHBOARD_KEY
from bot.web import build_web_app
from handlers.messages import Reply, TemplateCall
from storage.audit import CLI
from storage.models import (
    ActionPlanItem,
    AuditEntry,
    DashboardLink,
    Idea,
    IdeaAttachment,
    IdeaStatus,
    MonitoringReport,
    Role,
    Stage,
    User,
)
from storage.outbox import OutboxMessage
from storage.roles import revoke
from tests.chat import EN, ID
from tests.roles_world import World, build_world

PAGES = ("/dasbor/", "/dasbor/ide", "/dasbor/ide/1", "/dasbor/ekspor?format=csv")
APIS = ("/dasbor/api/summary", "/dasbor/api/ideas")
HOSTILE = "<b>SI-SEHAT</b> *Lansia* 😊"


class Inbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        self.sent.append((external_id, list(replies)))


@dataclass
class Rig:
    world: World
    client: TestClient[web.Request, web.Application]
    app: web.Application
    inbox: Inbox
    ideas: dict[str, int]

    async def link(self, person: str) -> str:
        """The path and query of the link /dasbor sends ``person``."""
        chat = self.world.chat
        replies = await chat.say(person, "/dasbor")
        assert replies[0].text == ID("dashboard.link_coming"), replies[0].text
        before = len(self.inbox.sent)
        await chat.core.sender.send_due("terminal")
        [(to, [reply])] = self.inbox.sent[before:]
        assert to == person
        match = re.search(r"https?://\S+", reply.text)
        assert match is not None, reply.text
        url = urlsplit(match[0])
        return f"{url.path}?{url.query}"

    async def sign_in(self, person: str) -> str:
        """A session cookie for ``person``."""
        response = await self.client.get(await self.link(person), allow_redirects=False)
        assert response.status == 302, await response.text()
        assert response.headers["Location"] == "/dasbor/"
        return response.cookies[COOKIE].value

    async def get(self, path: str, cookie: str | None) -> Any:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        return await self.client.get(path, headers=headers, allow_redirects=False)


async def _seed(world: World) -> dict[str, int]:
    """An idea in Deliver in Dinkes with a plan, a report and an eviden file; one in
    Disdukcapil; their ids."""
    database = world.chat.core.database
    period = f"{datetime.now(world_tz()):%Y-%m}"
    async with database.writing(), database.sessions() as session, session.begin():
        dinkes = Idea(
            name=HOSTILE,
            problem="Antrean <script>alert(1)</script> panjang",
            idea="Kader mendaftarkan lansia",
            is_digital=True,
            affair="kesehatan",
            opd_id=world.opds["Dinkes"],
            owner_id=world.users["asn"],
            stage=Stage.DELIVER,
            status=IdeaStatus.VERIFIED,
        )
        other = Idea(
            name="Adminduk Keliling",
            problem="Jarak jauh",
            idea="Mobil keliling",
            is_digital=False,
            affair="adminduk",
            opd_id=world.opds["Disdukcapil"],
            stage=Stage.DIAGNOSE,
        )
        session.add_all([dinkes, other])
        await session.flush()
        session.add(
            ActionPlanItem(idea_id=dinkes.id, month=date(2027, 1, 1), activity="Pelatihan kader")
        )
        session.add(
            MonitoringReport(
                idea_id=dinkes.id,
                period=period,
                reporter_id=world.users["asn"],
                progress=40,
                done="Uji coba di 2 puskesmas",
                obstacles=["budget"],
                next_step="Perluasan",
            )
        )
        session.add(
            IdeaAttachment(
                idea_id=dinkes.id,
                kind="document",
                file_name="sk-inovasi.pdf",
                storage_path="x/sk.pdf",
                indicator="regulasi",
            )
        )
        return {"dinkes": dinkes.id, "other": other.id}


def world_tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Jakarta")


async def _rig(world: World, public_url: str = "http://localhost:8080") -> AsyncIterator[Rig]:
    ideas = await _seed(world)
    core = world.chat.core
    inbox = Inbox()
    core.register_sender("terminal", inbox)
    settings = replace(core.settings, public_url=public_url)
    core.scheduler._dashboard_links.settings = settings  # the composer makes links for it
    app = build_web_app(core.database, [], settings=settings)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        yield Rig(world, client, app, inbox, ideas)


@pytest.fixture
async def rig(chat: Any) -> AsyncIterator[Rig]:
    world = await build_world(chat)
    async for made in _rig(world):
        yield made


async def _audit(rig: Rig, action: str) -> list[AuditEntry]:
    async with rig.world.chat.core.database.sessions() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# -- no session ----------------------------------------------------------------------------


async def test_nothing_is_served_without_a_session(rig: Rig) -> None:
    for cookie in (None, "not-a-session", "A" * 43):
        for path in PAGES:
            response = await rig.get(path, cookie)
            assert response.status == 401, path
            text = await response.text()
            assert ID("dashboard.no_session") in text and HOSTILE not in text
            assert "Antrean" not in text
        for path in APIS:
            response = await rig.get(path, cookie)
            assert response.status == 401
            assert await response.json() == {"error": "no session"}
        response = await rig.client.post("/dasbor/keluar", data={"csrf": "x"})
        assert response.status == 401
    # The static files hold no data and are public (the refusal pages need them).
    assert (await rig.get("/dasbor/static/dashboard.css", None)).status == 200
    assert (await rig.get("/dashboard", None)).headers["Location"] == "/dasbor/"


async def test_an_asn_and_a_newcomer_get_no_link(rig: Rig) -> None:
    chat = rig.world.chat
    assert (await chat.say("asn", "/dasbor"))[0].text == ID("access.denied")
    assert (await chat.say("newcomer", "/dashboard"))[0].text == ID("access.register_first")
    await chat.core.sender.send_due("terminal")
    assert rig.inbox.sent == []
    async with chat.core.database.sessions() as session:
        assert list(await session.scalars(select(DashboardLink))) == []


async def test_a_role_revoked_before_sending_gets_a_refusal_not_a_link(rig: Rig) -> None:
    chat = rig.world.chat
    await chat.say("coordinator", "/dasbor")
    await _revoke(rig, "coordinator")
    await chat.core.sender.send_due("terminal")
    [(_, [reply])] = rig.inbox.sent
    assert reply.text == ID("access.denied")


async def _revoke(rig: Rig, person: str) -> None:
    database = rig.world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        user = await session.get(User, rig.world.users[person])
        assert user is not None
        await revoke(session, CLI, user, Role.COORDINATOR, None)


# -- signing in ----------------------------------------------------------------------------


async def test_a_link_signs_in_once_with_a_safe_cookie(rig: Rig) -> None:
    link = await rig.link("bappeda")
    assert link.startswith("/dasbor/masuk?t=")
    async with rig.world.chat.core.database.sessions() as session:
        # The link went out through the outbox, marked sensitive: its text is not kept.
        rows = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "dashboard_link")
            )
        )
        assert rows and all(link.split("t=")[1] not in str(r.payload) for r in rows)
        [stored] = list(await session.scalars(select(DashboardLink)))
        assert link.split("t=")[1].split(".")[0] not in stored.token_hash  # only a hash
    response = await rig.client.get(link, allow_redirects=False)
    assert response.status == 302
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header  # plain http on localhost
    cookie = response.cookies[COOKIE].value
    page = await rig.get("/dasbor/", cookie)
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    [entry] = await _audit(rig, "dashboard.sign_in")
    assert entry.actor_id == rig.world.users["bappeda"]

    again = await rig.client.get(link, allow_redirects=False)
    assert again.status == 410
    assert ID("dashboard.link_reused") in await again.text()
    [failed] = await _audit(rig, "dashboard.sign_in_failed")
    assert failed.after is not None and failed.after["reason"] == "reused"


async def test_forged_and_expired_links_are_refused(rig: Rig) -> None:
    link = await rig.link("coordinator")
    body, _, signature = link.partition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (f"{body}.{flipped}", "/dasbor/masuk?t=abc.def", "/dasbor/masuk", link + "x"):
        response = await rig.client.get(forged, allow_redirects=False)
        assert response.status == 403, forged
        assert ID("dashboard.link_forged") in await response.text()
        assert COOKIE not in response.cookies
    # Ten minutes later the genuine link has expired.
    rig.app[DASHBOARD_KEY].clock = lambda: datetime.now(UTC) + timedelta(minutes=11)
    response = await rig.client.get(link, allow_redirects=False)
    assert response.status == 410
    assert ID("dashboard.link_expired") in await response.text()
    reasons = [e.after["reason"] for e in await _audit(rig, "dashboard.sign_in_failed") if e.after]
    assert reasons == ["forged"] * 4 + ["expired"]


async def test_a_session_ends_after_a_working_day(rig: Rig) -> None:
    cookie = await rig.sign_in("coordinator")
    rig.app[DASHBOARD_KEY].clock = lambda: datetime.now(UTC) + timedelta(hours=9, minutes=1)
    assert (await rig.get("/dasbor/", cookie)).status == 401


async def test_the_cookie_is_secure_behind_https(chat: Any) -> None:
    world = await build_world(chat)
    async for rig in _rig(world, public_url="https://sasi.example.go.id"):
        link = await rig.link("bappeda")
        response = await rig.client.get(link, allow_redirects=False)
        assert "Secure" in response.headers["Set-Cookie"]


# -- what each role sees -------------------------------------------------------------------

SCOPES = {
    "coordinator": {"dinkes"},
    "other_coordinator": {"other"},
    "bappeda": {"dinkes", "other"},
    "admin": {"dinkes", "other"},
}


@pytest.mark.parametrize("person", sorted(SCOPES))
async def test_each_role_sees_its_scope_on_every_endpoint(rig: Rig, person: str) -> None:
    cookie = await rig.sign_in(person)
    mine = {rig.ideas[k] for k in SCOPES[person]}
    others = set(rig.ideas.values()) - mine

    summary = await (await rig.get("/dasbor/api/summary", cookie)).json()
    assert summary["total_ideas"] == len(mine)
    sees_dinkes = rig.ideas["dinkes"] in mine
    assert summary["monitoring"] == {
        "period": summary["monitoring"]["period"],
        "due": int(sees_dinkes),
        "reported": int(sees_dinkes),
        "overdue": 0,
    }
    assert set(summary["recent_reports"]) == ({rig.ideas["dinkes"]} if sees_dinkes else set())

    listed = await (await rig.get("/dasbor/api/ideas", cookie)).json()
    assert {i["id"] for i in listed["ideas"]} == mine and listed["total"] == len(mine)

    page = await (await rig.get("/dasbor/", cookie)).text()
    assert "<b>SI-SEHAT" not in page  # names are escaped, never markup
    assert ("&lt;b&gt;SI-SEHAT&lt;/b&gt;" in page) is sees_dinkes
    ideas_html = await (await rig.get("/dasbor/ide", cookie)).text()
    assert ("Adminduk Keliling" in ideas_html) is (rig.ideas["other"] in mine)

    for idea_id in mine:
        detail = await rig.get(f"/dasbor/ide/{idea_id}", cookie)
        assert detail.status == 200
    for idea_id in others | {999999}:
        # Another OPD's idea by URL: the same 404 as an idea that does not exist.
        detail = await rig.get(f"/dasbor/ide/{idea_id}", cookie)
        assert detail.status == 404
        text = await detail.text()
        assert "Adminduk" not in text and "SI-SEHAT" not in text
    foreign_opds = set(rig.world.opds.values()) - _opds_of(rig, mine)
    if person in ("coordinator", "other_coordinator"):
        for opd in sorted(foreign_opds)[:3]:
            for path in (f"/dasbor/ide?opd={opd}", f"/dasbor/ekspor?format=csv&opd={opd}"):
                assert (await rig.get(path, cookie)).status == 404
            response = await rig.get(f"/dasbor/api/ideas?opd={opd}", cookie)
            assert response.status == 404 and await response.json() == {"error": "not found"}

    exported = await rig.get("/dasbor/ekspor?format=csv", cookie)
    assert exported.status == 200 and "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await exported.read()).decode("utf-8-sig"))))
    assert {int(r[0]) for r in rows[1:]} == mine
    xlsx = await rig.get("/dasbor/ekspor?format=xlsx", cookie)
    assert xlsx.status == 200 and (await xlsx.read())[:2] == b"PK"


def _opds_of(rig: Rig, ideas: set[int]) -> set[int]:
    opds = set()
    if rig.ideas["dinkes"] in ideas:
        opds.add(rig.world.opds["Dinkes"])
    if rig.ideas["other"] in ideas:
        opds.add(rig.world.opds["Disdukcapil"])
    return opds


async def test_the_idea_page_shows_profile_plan_reports_and_eviden(rig: Rig) -> None:
    cookie = await rig.sign_in("coordinator")
    text = await (await rig.get(f"/dasbor/ide/{rig.ideas['dinkes']}", cookie)).text()
    for expected in ("Pelatihan kader", "Uji coba di 2 puskesmas", "40%", "sk-inovasi.pdf"):
        assert expected in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)" in text


async def test_filters_narrow_the_table(rig: Rig) -> None:
    cookie = await rig.sign_in("bappeda")
    cases = {
        "?digital=yes": {"dinkes"},
        "?digital=no": {"other"},
        "?stage=deliver": {"dinkes"},
        "?status=verified": {"dinkes"},
        "?affair=adminduk": {"other"},
        "?q=keliling": {"other"},
        f"?opd={rig.world.opds['Dinkes']}": {"dinkes"},
        "?stage=nonsense&page=x": {"dinkes", "other"},  # unknown values filter nothing
    }
    for query, expected in cases.items():
        listed = await (await rig.get(f"/dasbor/api/ideas{query}", cookie)).json()
        assert {i["id"] for i in listed["ideas"]} == {rig.ideas[k] for k in expected}, query
    page = await rig.get("/dasbor/ide?q=keliling&digital=no", cookie)
    text = await page.text()
    assert "Adminduk Keliling" in text and "SI-SEHAT" not in text
    assert "/dasbor/ekspor?q=keliling&amp;digital=no&amp;format=xlsx" in text


async def test_exports_from_the_page_are_audited_with_their_filter(rig: Rig) -> None:
    from storage.audit import EXPORT_ACTION

    cookie = await rig.sign_in("coordinator")
    dinkes = rig.world.opds["Dinkes"]
    exported = await rig.get(
        f"/dasbor/ekspor?q=sehat&stage=deliver&opd={dinkes}&format=xlsx", cookie
    )
    assert exported.status == 200
    eviden = await rig.get("/dasbor/ekspor?format=csv&part=eviden&digital=yes", cookie)
    assert eviden.status == 200
    refused = await rig.get("/dasbor/ekspor?format=pdf", cookie)
    assert refused.status == 404
    first, second = sorted(await _audit(rig, EXPORT_ACTION), key=lambda e: e.id)
    assert first.actor_id == second.actor_id == rig.world.users["coordinator"]
    assert first.at is not None and first.subject == f"user:{rig.world.users['coordinator']}"
    assert first.after == {
        "via": "dashboard",
        "format": "xlsx",
        "scope": [dinkes],
        "filter": {"opd_ids": [dinkes], "stage": "deliver", "text": "sehat"},
        "ideas": 1,
    }
    assert second.after is not None
    assert second.after["format"] == "csv" and second.after["part"] == "eviden"
    assert second.after["filter"] == {"is_digital": True}


async def test_a_revoked_role_loses_the_dashboard_at_the_next_request(rig: Rig) -> None:
    cookie = await rig.sign_in("coordinator")
    assert (await rig.get("/dasbor/", cookie)).status == 200
    await _revoke(rig, "coordinator")
    response = await rig.get("/dasbor/", cookie)
    assert response.status == 403 and ID("dashboard.no_role") in await response.text()
    assert (await rig.get("/dasbor/api/summary", cookie)).status == 403


# -- sign-out, live, language --------------------------------------------------------------


async def test_sign_out_needs_the_form_token_and_ends_the_session(rig: Rig) -> None:
    cookie = await rig.sign_in("coordinator")
    page = await (await rig.get("/dasbor/", cookie)).text()
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    refused = await rig.client.post("/dasbor/keluar", data={"csrf": "forged"}, headers=headers)
    assert refused.status == 403
    assert (await rig.get("/dasbor/", cookie)).status == 200
    done = await rig.client.post("/dasbor/keluar", data={"csrf": match[1]}, headers=headers)
    assert done.status == 200 and ID("dashboard.signed_out") in await done.text()
    assert (await rig.get("/dasbor/", cookie)).status == 401
    [entry] = await _audit(rig, "dashboard.sign_out")
    assert entry.actor_id == rig.world.users["coordinator"]


async def test_the_summary_version_changes_when_a_report_arrives(rig: Rig) -> None:
    cookie = await rig.sign_in("bappeda")
    first = await (await rig.get("/dasbor/api/summary", cookie)).json()
    assert "html" in first and re.fullmatch(r"\d\d:\d\d:\d\d", first["updated"])
    same = await (await rig.get(f"/dasbor/api/summary?v={first['version']}", cookie)).json()
    assert same["version"] == first["version"] and "html" not in same
    database = rig.world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        idea = await session.get(Idea, rig.ideas["other"])
        assert idea is not None
        idea.stage, idea.status = Stage.DELIVER, IdeaStatus.VERIFIED
        idea.owner_id = rig.world.users["other_coordinator"]  # only owned ideas are due
        session.add(
            MonitoringReport(
                idea_id=idea.id,
                period=first["monitoring"]["period"],
                progress=75,
                done="Mobil beroperasi",
                obstacles=[],
                next_step="Jadwal rutin",
            )
        )
    after = await (await rig.get(f"/dasbor/api/summary?v={first['version']}", cookie)).json()
    assert after["version"] != first["version"]
    assert after["monitoring"]["reported"] == 2
    assert "Adminduk Keliling" in after["html"]


async def test_the_language_switch(rig: Rig) -> None:
    cookie = await rig.sign_in("bappeda")
    english = await rig.get("/dasbor/?lang=en", cookie)
    text = await english.text()
    assert EN("dashboard.summary_title") in text and '<html lang="en">' in text
    remembered = english.cookies["sasi_bahasa"].value
    headers = {"Cookie": f"{COOKIE}={cookie}; sasi_bahasa={remembered}"}
    again = await rig.client.get("/dasbor/ide", headers=headers)
    assert EN("dashboard.ideas_title") in await again.text()
    assert ID("dashboard.summary_title") in await (await rig.get("/dasbor/", cookie)).text()
