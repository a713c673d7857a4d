"""The weekly digest: its words per language, its chart, /rekap per role, and its schedule."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
from sqlalchemy import select

from bot.app import Core, open_core
from bot.config import ConfigError, Settings
from handlers.messages import Reply, TemplateCall
from reports.chart import PNG_SIGNATURE, chart_file, digest_chart
from reports.digest import build_digest, digest_text, monitoring_period
from storage.models import ExtraHoliday, Identity, Role, User, UserRole
from storage.outbox import OutboxMessage, OutboxState
from tests.chat import EN, ID, ChatDriver
from tests.figures_fixture import MOMENT, seed
from tests.roles_world import build_world

WIB = ZoneInfo("Asia/Jakarta")


async def _digest_of_fixture(core: Core) -> tuple[str, str, bytes]:
    await seed(core.database)
    async with core.database.sessions() as session:
        digest = await build_digest(session, scope=None, moment=MOMENT, tz=WIB)
    return (
        digest_text(digest, ID, pemda="Kabupaten Contoh"),
        digest_text(digest, EN),
        digest_chart(digest.figures, ID),
    )


async def test_the_digest_in_indonesian_and_english(core: Core) -> None:
    indonesian, english, _ = await _digest_of_fixture(core)
    assert indonesian.splitlines()[:3] == [
        "📊 Rekap mingguan SASI: Kabupaten Contoh",
        "8 Mar – 14 Mar 2027",
        "• Ide baru pekan ini: 4 (total 7)",
    ]
    assert "• Tahap: Drum-up 0 · Diagnose 1 · Design 1 · Deliver 4 · Display 1" in indonesian
    assert "5 dari 7 ASN (71%)" in indonesian and "3 dari 3 (100%)" in indonesian
    assert "• OPD yang belum mengusulkan ide (1): Gamma" in indonesian
    assert "• Ide mirip yang ditandai: 3 (tetap diajukan 1, bergabung 1, dibatalkan 1)" in (
        indonesian
    )
    assert "• Laporan monitoring Maret 2027: 1 dari 2 ide (50%)" in indonesian
    assert "• Belum melapor, per OPD: Alpha 1" in indonesian
    assert "• Kendala terbanyak: Anggaran 2, Regulasi 1, SDM 1" in indonesian
    assert "(dari 4 ide di Deliver/Display)" in indonesian
    assert english.splitlines()[0] == "📊 SASI weekly digest: all OPDs"
    assert "• New ideas this week: 4 (total 7)" in english
    assert "5 of 7 ASN (71%)" in english
    assert "• Monitoring reports for March 2027: 1 of 2 ideas (50%)" in english
    # Short enough for a phone: one screen, one message.
    assert len(indonesian) < 1000 and len(indonesian.splitlines()) <= 15


def test_numbers_follow_the_language() -> None:
    assert (ID.number(12345), EN.number(12345)) == ("12.345", "12,345")


def test_the_month_shown_is_final_in_a_months_first_week() -> None:
    assert monitoring_period(date(2027, 3, 15)) == ("2027-03", date(2027, 3, 15))
    assert monitoring_period(date(2027, 3, 1)) == ("2027-02", date(2027, 2, 28))


async def test_the_chart_is_a_png(core: Core, tmp_path: Path) -> None:
    _, _, png = await _digest_of_fixture(core)
    assert png.startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape[0] > 300 and image.shape[1] > 600


async def test_an_empty_pemda_still_gets_a_chart(core: Core, tmp_path: Path) -> None:
    async with core.database.sessions() as session:
        digest = await build_digest(session, scope=None, moment=MOMENT, tz=WIB)
    path = chart_file(digest.figures, EN, tmp_path)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert chart_file(digest.figures, EN, tmp_path) == path  # named by content: written once
    text = digest_text(digest, EN)
    assert ("roster has not been loaded" in text) and ("No idea owes" in text)


# -- /rekap -----------------------------------------------------------------------------------


def _photo(replies: Sequence[Reply]) -> Path:
    files = [r.file for r in replies if r.file is not None]
    assert len(files) == 1 and files[0].kind == "photo"
    return files[0].path


async def test_rekap_per_role(chat: ChatDriver) -> None:
    world = await build_world(chat)
    await chat.submit_idea(
        "asn",
        "Posyandu Digital",
        "Data balita di posyandu dicatat di buku dan sering hilang saat pergantian kader.",
        "Kader mencatat penimbangan balita lewat aplikasi sederhana yang tersambung ke puskesmas.",
    )
    assert (await chat.say("asn", "/rekap"))[0].text == ID("access.denied")
    assert (await chat.say("newcomer", "/summary"))[0].text == ID("access.register_first")

    coordinator = await chat.say("coordinator", "/rekap")
    assert coordinator[0].text.startswith("📊 Rekap mingguan SASI: Dinkes\n")
    assert "(total 1)" in coordinator[0].text
    assert _photo(coordinator).read_bytes().startswith(PNG_SIGNATURE)

    other = await chat.say("other_coordinator", "/rekap")
    assert other[0].text.startswith("📊 Rekap mingguan SASI: Disdukcapil\n")
    assert "(total 0)" in other[0].text

    for person in ("bappeda", "admin"):
        whole = await chat.say(person, "/summary")
        assert whole[0].text.startswith(f"📊 Rekap mingguan SASI: {ID('digest.whole_pemda')}\n")
        assert "(total 1)" in whole[0].text
        assert _photo(whole).is_file()
    assert world.users["asn"]


# -- the schedule -----------------------------------------------------------------------------


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, day: date, hour: int, minute: int = 0) -> None:
        self.now = datetime.combine(day, time(hour, minute), tzinfo=WIB).astimezone(UTC)


@dataclass
class Inbox:
    clock: Clock
    got: list[tuple[datetime, str, str, TemplateCall | None, int]] = field(default_factory=list)

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        files = sum(1 for r in replies if r.file is not None)
        self.got.append((self.clock.now, external_id, replies[0].text, template, files))


def test_digest_settings() -> None:
    settings = Settings.from_env(
        {
            "SASI_DIGEST_AT": "selasa 08.15",
            "SASI_BAPPEDA_CHATS": "telegram:-100123, whatsapp:62811",
        },
        dotenv_path=None,
    )
    assert (settings.digest_weekday, settings.digest_time) == (1, time(8, 15))
    assert settings.bappeda_chats == (("telegram", "-100123"), ("whatsapp", "62811"))
    defaults = Settings.from_env({}, dotenv_path=None)
    assert (defaults.digest_weekday, defaults.digest_time) == (0, time(7, 30))
    for bad in (
        {"SASI_DIGEST_AT": "someday 07:30"},
        {"SASI_DIGEST_AT": "mon 22:00"},  # quiet hours
        {"SASI_BAPPEDA_CHATS": "signal:123"},
        {"SASI_BAPPEDA_PUSH_URL": "https://bappeda.example/sasi"},  # no secret
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(bad, dotenv_path=None)


@contextlib.asynccontextmanager
async def _process(settings: Settings, clock: Clock, inbox: Inbox) -> AsyncIterator[Core]:
    """A fresh process on the same database, as a restart or a second machine would be."""
    async with open_core(settings, migrate=False, clock=clock) as core:
        core.register_sender("terminal", inbox)
        yield core


async def _officer(core: Core) -> None:
    async with core.database.sessions() as session, session.begin():
        officer = User(full_name="Agus", nip="197905102005011002", locale="en",
                       registered_at=datetime(2027, 1, 1, tzinfo=UTC))  # fmt: skip
        session.add(officer)
        await session.flush()
        session.add(Identity(user_id=officer.id, channel="terminal", external_id="agus"))
        session.add(UserRole(user_id=officer.id, role=Role.BAPPEDA))
        # Bappeda closes Monday 22 March: that week's digest goes out on Tuesday.
        session.add(ExtraHoliday(day=date(2027, 3, 22), reason="Cuti daerah"))


async def test_once_a_week_across_a_restart_and_a_holiday_monday(settings: Settings) -> None:
    settings = replace(settings, bappeda_chats=(("terminal", "bappeda-room"),))
    clock = Clock(datetime(2027, 3, 1, tzinfo=UTC))
    inbox = Inbox(clock)
    async with _process(settings, clock, inbox) as core:
        await seed(core.database)
        await _officer(core)
    # 8-15 March 2027 are Nyepi, Lebaran and cuti bersama: the week of the 8th has no working
    # day (no digest), the next one's Monday is closed (Tuesday); then Bappeda's own day.
    days = [date(2027, 3, d) for d in range(8, 25)]
    for half in (days[:12], days[12:]):  # a restart on Saturday 20 March
        async with (
            _process(settings, clock, inbox) as first,
            _process(settings, clock, inbox) as second,
        ):  # two processes on one database, as in production
            for day in half:
                for hour, minute in ((6, 0), (7, 0), (7, 30), (8, 0), (12, 0), (21, 0)):
                    clock.set(day, hour, minute)
                    for core in (first, second):
                        await core.scheduler.tick()
                        await core.sender.drain(["terminal"])
    got = sorted((at.astimezone(WIB), who) for at, who, *_ in inbox.got)
    after_lebaran = datetime(2027, 3, 16, 7, 30, tzinfo=WIB)
    after_closure = datetime(2027, 3, 23, 7, 30, tzinfo=WIB)
    assert got == [
        (after_lebaran, "agus"),
        (after_lebaran, "bappeda-room"),
        (after_closure, "agus"),
        (after_closure, "bappeda-room"),
    ]
    texts = {(at.astimezone(WIB).date(), who): text for at, who, text, _, _ in inbox.got}
    assert texts[(date(2027, 3, 16), "agus")].startswith("📊 SASI weekly digest")  # his language
    assert texts[(date(2027, 3, 16), "bappeda-room")].startswith("📊 Rekap mingguan SASI")
    assert all(files == 1 and t is not None and t.purpose == "weekly_digest"
               for _, _, _, t, files in inbox.got)  # fmt: skip


async def test_send_now_queues_the_same_rows_under_manual_keys(settings: Settings) -> None:
    settings = replace(settings, bappeda_chats=(("terminal", "bappeda-room"),))
    clock = Clock(datetime(2027, 4, 14, 3, 0, tzinfo=UTC))
    inbox = Inbox(clock)
    async with _process(settings, clock, inbox) as core:
        await _officer(core)
        assert await core.scheduler.queue_digest(clock.now, manual=True) == 2
        await core.sender.drain(["terminal"])
        async with core.database.sessions() as session:
            rows = list(await session.scalars(select(OutboxMessage).where(
                OutboxMessage.kind == "digest")))  # fmt: skip
        assert sorted(r.key for r in rows) == [
            "digest:manual-20270414T030000:terminal:agus",
            "digest:manual-20270414T030000:terminal:bappeda-room",
        ]
        assert {r.state for r in rows} == {OutboxState.SENT.value}
        # Wednesday, after Monday's moment: the week's own digest is due too, once.
        assert await core.scheduler.queue_digest(clock.now) == 2
        assert await core.scheduler.queue_digest(clock.now) == 0
    assert len(inbox.got) == 2


def test_the_chart_draws_hostile_opd_names_as_written() -> None:
    from storage.figures import MonitoringFigures, OpdFigures, ProgrammeFigures, Window

    window = Window.week_before(MOMENT)
    opds = (
        OpdFigures(1, "Dinas A", "$Dinas*<b>", 2, 0, 3, 1, 0, 0),  # "$…$" is a formula otherwise
        OpdFigures(2, "Dinas B", "Rp$ 😀 " + "x" * 17, 0, 0, 0, 0, 0, 0),
    )
    monitoring = MonitoringFigures("2027-03", 0, 0, {}, ())
    figures = ProgrammeFigures(None, window, 2, 0, (), opds, {}, monitoring, {}, {}, 0)
    assert digest_chart(figures, ID).startswith(PNG_SIGNATURE)


# -- through the Telegram channel -------------------------------------------------------------


async def test_the_digest_reaches_a_bappeda_telegram_group_with_its_chart(
    tmp_path: Path, database_url: str
) -> None:
    from tests.fakes.telegram_api import telegram_rig

    group_id = -1001234567890
    clock = Clock(datetime(2027, 4, 1, 3, 0, tzinfo=UTC))

    def core_factory(settings: Settings) -> contextlib.AbstractAsyncContextManager[Core]:
        chats = (("telegram", str(group_id)),)
        return open_core(replace(settings, bappeda_chats=chats), migrate=False, clock=clock)

    async with telegram_rig(tmp_path, "polling", core_factory, database_url=database_url) as rig:
        rig.fake.group(group_id, "Bappeda Sukamaju")
        await seed(rig.core.database)
        clock.set(date(2027, 4, 5), 7, 0)  # Monday, before 07:30
        await rig.core.scheduler.tick()
        assert await rig.core.sender.drain() == 0
        clock.set(date(2027, 4, 5), 7, 30)
        await rig.core.scheduler.tick()
        await rig.core.sender.drain()
        sent = rig.fake.sent_to(group_id)
        assert [m.kind for m in sent] == ["text", "photo"]
        assert (sent[0].text or "").startswith("📊 Rekap mingguan SASI: seluruh OPD")
        assert "• Ide baru pekan ini: 0 (total 7)" in (sent[0].text or "")
        assert sent[1].file_name is not None and sent[1].file_name.endswith(".png")
        assert (sent[1].text or "").startswith("Rekap SASI")  # the caption
        clock.set(date(2027, 4, 5), 9, 0)
        await rig.core.scheduler.tick()
        assert await rig.core.sender.drain() == 0  # once a week


async def test_a_closed_whatsapp_window_gets_the_digest_template(
    settings: Settings, tmp_path: Path
) -> None:
    from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES
    from bot.demo import DEMO_DIR
    from bot.opd_import import import_opds, read_opd_csv
    from tests.fakes.graph_api import FakeGraphApi
    from tests.test_whatsapp_e2e import open_stack, register

    fake = FakeGraphApi()
    fake.templates = {s.name: (s.language, len(s.parameters)) for s in DEFAULT_TEMPLATES.values()}
    await fake.start()
    clock = Clock(datetime(2027, 4, 1, 3, 0, tzinfo=UTC))
    try:
        async with open_core(settings, migrate=False, clock=clock) as core:
            await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
            stack = await open_stack(core, fake, tmp_path)
            try:
                stack.offset[0] = clock.now - datetime.now(UTC)
                agus = stack.user("6281299990000", "Agus")
                await register(agus, "Agus Wijaya", "197905102005011002")
                async with core.database.sessions() as session, session.begin():
                    officer = await session.scalar(select(User))
                    assert officer is not None
                    session.add(UserRole(user_id=officer.id, role=Role.BAPPEDA))
                clock.set(date(2027, 4, 5), 7, 30)  # days after his last message
                stack.offset[0] = clock.now - datetime.now(UTC)
                await core.scheduler.tick()
                await core.sender.drain()
                [template] = [m for m in fake.sent_to(agus.wa_id) if m["type"] == "template"]
                assert template["template"]["name"] == "sasi_ringkasan_mingguan"
                params = [p["text"] for p in template["template"]["components"][0]["parameters"]]
                assert params[0] == "29 Mar – 4 Apr 2027"
                assert params[1].startswith("0 ide baru, 0 ide seluruhnya")
            finally:
                await stack.close()
    finally:
        await fake.close()
    assert fake.violations == []


def test_python_m_bot_digest_prints_and_sends(tmp_path: Path) -> None:
    from tests.test_cli import cli

    assert cli(tmp_path, "seed-demo").returncode == 0
    printed = cli(tmp_path, "digest", "--at", "2027-03-22T07:30")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("📊 Rekap mingguan SASI: seluruh OPD\n15 Mar – 21 Mar 2027")
    assert "(total 40)" in printed.stdout
    assert "queued" not in printed.stderr
    # No chats configured and no Bappeda officer: nothing to send, said so.
    sent = cli(tmp_path, "digest", "--at", "2027-03-22T07:30", "--send")
    assert sent.returncode == 0 and "0 queued in the outbox" in sent.stderr
    bad = cli(tmp_path, "digest", "--at", "next monday")
    assert bad.returncode == 2 and "--at wants an ISO date" in bad.stderr
