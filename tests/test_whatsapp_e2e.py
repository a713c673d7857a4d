"""Whole conversations through WhatsApp: signed webhooks in, the real core, the Graph API fake out.

A person here only sees what the fake received and can only press buttons and list rows that
were really offered to them, so a conversation that works only on Telegram fails here.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.app import Core, open_core
from bot.channels.whatsapp import WhatsAppChannel
from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES, TemplateError, TemplateRequest
from bot.web import build_web_app, start_web_app
from handlers.messages import Incoming, Reply, TemplateCall
from storage.models import Idea, IdeaAttachment, Identity, InboundUpdate, User
from tests.chat import ID, ChatDriver
from tests.fakes.graph_api import (
    FakeGraphApi,
    WebhookPoster,
    WhatsAppUser,
    new_message_id,
    offered_choices,
    visible_text,
)
from tests.pii import personal_data_in

SECRET = "e2e-app-secret"
VERIFY = "e2e-verify-token"
NIP = "199107082019032012"


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log line of these runs, at DEBUG, names nobody (issue 20.5, UU 27/2022)."""
    caplog.set_level(logging.DEBUG)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    assert personal_data_in(records, ["Rina"]) == []


def read(messages: list[dict[str, Any]]) -> str:
    return "\n".join(visible_text(m) for m in messages)


@dataclass
class TelegramStandIn:
    """What the core delivered to Telegram identities (the one-time codes)."""

    sent: list[tuple[str, tuple[Reply, ...]]] = field(default_factory=list)

    async def __call__(
        self,
        external_id: str,
        replies: Sequence[Reply],
        *,
        template: TemplateCall | None = None,
    ) -> None:
        self.sent.append((external_id, tuple(replies)))

    def code(self) -> str:
        text = "\n".join(r.text for _, replies in self.sent for r in replies)
        codes = re.findall(r"\b\d{6}\b", text)
        assert codes, f"no code was sent to Telegram: {text!r}"
        return codes[-1]


@dataclass
class Stack:
    """The real webhook server and WhatsApp channel over a real core."""

    core: Core
    channel: WhatsAppChannel
    runner: web.AppRunner
    http: aiohttp.ClientSession
    poster: WebhookPoster
    fake: FakeGraphApi
    telegram: TelegramStandIn
    offset: list[timedelta]

    def user(
        self, wa_id: str = "6281234567890", name: str = "Rina", bsuid: str | None = None
    ) -> WhatsAppUser:
        return WhatsAppUser(self.poster, self.fake, self.channel.idle, wa_id, name, bsuid=bsuid)

    async def close(self) -> None:
        await self.http.close()
        await self.channel.stop()
        await self.runner.cleanup()


async def open_stack(core: Core, fake: FakeGraphApi, tmp_path: Path) -> Stack:
    settings = dataclasses.replace(
        core.settings,
        attachments_dir=tmp_path / "attachments",
        whatsapp_token=fake.token,
        whatsapp_phone_number_id=fake.phone_number_id,
        whatsapp_app_secret=SECRET,
        whatsapp_verify_token=VERIFY,
        whatsapp_api_base_url=fake.base_url,
    )
    offset = [timedelta(0)]

    async def no_sleep(delay: float) -> None:
        return None

    channel = WhatsAppChannel(
        settings,
        core,
        clock=lambda: datetime.now(UTC) + offset[0],
        sleep=no_sleep,
        backoff=lambda attempt: 0.0,
    )
    telegram = TelegramStandIn()
    core.register_sender("telegram", telegram)
    runner = await start_web_app(build_web_app(core.database, [channel]), "127.0.0.1", 0)
    await channel.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/whatsapp"
    http = aiohttp.ClientSession()
    poster = WebhookPoster(
        http,
        url,
        SECRET,
        {
            "WHATSAPP_BUSINESS_ACCOUNT_ID": "102290129340398",
            "BUSINESS_DISPLAY_PHONE_NUMBER": "6281100001111",
            "BUSINESS_PHONE_NUMBER_ID": fake.phone_number_id,
        },
    )
    return Stack(core, channel, runner, http, poster, fake, telegram, offset)


@pytest.fixture
async def graph_api() -> AsyncIterator[FakeGraphApi]:
    fake = FakeGraphApi()
    fake.templates = {s.name: (s.language, len(s.parameters)) for s in DEFAULT_TEMPLATES.values()}
    await fake.start()
    yield fake
    await fake.close()
    assert fake.violations == [], "the channel broke a documented Cloud API rule"


@pytest.fixture
async def stack(demo_core: Core, graph_api: FakeGraphApi, tmp_path: Path) -> AsyncIterator[Stack]:
    opened = await open_stack(demo_core, graph_api, tmp_path)
    yield opened
    await opened.close()


async def register(user: WhatsAppUser, name: str = "Rina Marlina", nip: str = NIP) -> None:
    await user.says("/mulai")
    await user.says(name)
    await user.says(nip)
    offer = await user.says("kesehatan")
    assert "Dinkes" in read(offer)
    await user.taps("Dinkes")
    done = await user.says("Pranata Komputer")
    assert ID("registration.done", name=name) in read(done)


async def submit_idea(
    user: WhatsAppUser, name: str, problem: str, idea: str, on_duplicate: str | None = None
) -> list[dict[str, Any]]:
    """The whole intake by taps and typing, as a person on WhatsApp does it."""
    await user.says("/ide")
    await user.says(name)
    await user.says(problem)
    answer = await user.says(idea)
    if on_duplicate is not None:
        assert ID("dup.question") in read(answer), read(answer)
        await user.taps(on_duplicate)
    await user.says("Meningkatkan cakupan layanan bagi warga.")
    await user.says("Warga terlayani lebih cepat dan murah.")
    await user.says("Warga lanjut usia")
    await user.taps("digital:no")
    await user.taps("form:pelayanan_publik")
    await user.says("kesehatan")
    await user.taps("initiator:asn")
    await user.taps("opd:own")
    await user.says("50 juta")
    summary = await user.taps("attach:done")
    assert ID("intake.summary_title") in read(summary), read(summary)
    return await user.taps("summary:save")


async def ideas(core: Core) -> list[Idea]:
    async with core.database.sessions() as session:
        return list(await session.scalars(select(Idea).order_by(Idea.id)))


# -- registration and intake -------------------------------------------------------------


async def test_registration_uses_lists_and_buttons(stack: Stack) -> None:
    user = stack.user()
    welcome = await user.says("/mulai")
    assert ID("registration.ask_name") in read(welcome)
    await user.says("Rina Marlina")
    await user.says("19910708 201903 2 012")
    offer = await user.says("kesehatan")
    interactive = offer[-1]
    assert interactive["type"] == "interactive"
    await user.taps("Dinkes")
    done = await user.says("Pranata Komputer")
    assert ID("registration.done", name="Rina Marlina") in read(done)
    async with stack.core.database.sessions() as session:
        identity = await session.scalar(
            select(Identity).where(
                Identity.channel == "whatsapp", Identity.external_id == user.wa_id
            )
        )
        assert identity is not None
        owner = await session.get(User, identity.user_id)
    assert owner is not None and owner.nip == NIP and owner.is_registered


async def test_choosing_among_forty_opds_pages_through_lists(stack: Stack) -> None:
    user = stack.user()
    await user.says("/mulai")
    await user.says("Budi Santoso")
    await user.says("198503142010011004")
    first = await user.says("dinas")
    offer = first[-1]
    assert offer["interactive"]["type"] == "list"
    rows = offer["interactive"]["action"]["sections"][0]["rows"]
    assert len(rows) <= 10
    assert "page:next" in [r["id"] for r in rows]
    titles_first = [r["title"] for r in rows]
    second = await user.taps("page:next")
    titles_second = [r["title"] for r in second[-1]["interactive"]["action"]["sections"][0]["rows"]]
    assert set(titles_second) - set(titles_first)
    opd_row = next(
        r
        for r in second[-1]["interactive"]["action"]["sections"][0]["rows"]
        if r["id"].startswith("opd:")
    )
    await user.taps(opd_row["id"])
    done = await user.says("Analis Kebijakan")
    assert ID("registration.done", name="Budi Santoso") in read(done)


async def test_a_typed_number_answers_a_list(stack: Stack) -> None:
    user = stack.user()
    await user.says("/mulai")
    await user.says("Budi Santoso")
    await user.says("198503142010011004")
    offer = await user.says("dukcapil")
    assert offer[-1]["type"] == "interactive"
    answer = await user.says("1")
    assert ID("registration.ask_position") in read(answer)


async def test_an_idea_is_submitted_with_buttons_and_lists(stack: Stack) -> None:
    user = stack.user()
    await register(user)
    saved = await submit_idea(
        user,
        "SI-JEMPOL",
        "Lansia sulit datang ke puskesmas untuk cek kesehatan rutin.",
        "Petugas puskesmas menjemput lansia dengan jadwal yang dipesan lewat WhatsApp.",
    )
    assert saved
    [idea] = await ideas(stack.core)
    assert idea.name == "SI-JEMPOL"
    kinds = {
        m["interactive"]["type"]
        for m in stack.fake.sent_to(user.wa_id)
        if m["type"] == "interactive"
    }
    assert kinds == {"button", "list"}


async def test_editing_one_of_ten_fields_from_the_summary(stack: Stack) -> None:
    user = stack.user()
    await register(user)
    await user.says("/ide")
    await user.says("SI-JEMPOL")
    await user.says("Lansia sulit datang ke puskesmas untuk cek kesehatan rutin.")
    await user.says("Petugas menjemput lansia sesuai jadwal yang dipesan.")
    await user.says("Meningkatkan cakupan layanan bagi warga.")
    await user.says("Warga terlayani lebih cepat dan murah.")
    await user.says("Warga lanjut usia")
    await user.taps("digital:no")
    await user.taps("form:pelayanan_publik")
    await user.says("kesehatan")
    await user.taps("initiator:asn")
    await user.taps("opd:own")
    await user.says("50 juta")
    await user.taps("attach:done")
    edit_menu = await user.taps("summary:edit")
    offer = edit_menu[-1]
    assert offer["interactive"]["type"] == "list"
    edit_rows = [
        r
        for r in offer["interactive"]["action"]["sections"][0]["rows"]
        if r["id"].startswith("edit:")
    ]
    assert len(edit_rows) >= 4
    await user.taps("edit:name")
    summary = await user.says("SI-JEMPUT")
    assert "SI-JEMPUT" in read(summary)
    await user.taps("summary:save")
    [idea] = await ideas(stack.core)
    assert idea.name == "SI-JEMPUT"


async def test_the_duplicate_warning_and_choice(stack: Stack) -> None:
    problem = "Antrean panjang pembuatan KTP elektronik di kantor Disdukcapil setiap pagi."
    idea = "Warga mengambil nomor antrean KTP secara daring lewat WhatsApp sebelum datang."
    first = stack.user("6281111111111", "Rina")
    await register(first)
    await submit_idea(first, "ANTRE-KTP", problem, idea)
    second = stack.user("6282222222222", "Budi")
    await register(second, "Budi Santoso", "198503142010011004")
    await second.says("/ide")
    await second.says("KTP-CEPAT")
    await second.says(problem)
    warning = await second.says(idea)
    assert ID("dup.question") in read(warning)
    assert "ANTRE-KTP" in read(warning)
    ids = [choice_id for choice_id, _, _ in offered_choices(warning[-1])]
    assert "dup:continue" in ids and "dup:cancel" in ids
    await second.taps("dup:continue")
    assert len(await ideas(stack.core)) == 1  # not saved until the summary


# -- webhook guarantees with the real engine ---------------------------------------------


async def test_forged_or_missing_signatures_store_and_send_nothing(stack: Stack) -> None:
    user = stack.user()
    payload = stack.poster.payload(
        "text", **user._values(new_message_id(), MESSAGE_BODY_TEXT="/mulai")
    )
    assert await stack.poster.post(payload, signature=None) == 403
    assert await stack.poster.post(payload, signature="sha256=" + "ab" * 32) == 403
    await stack.channel.idle()
    assert stack.fake.messages == []
    async with stack.core.database.sessions() as session:
        assert list(await session.scalars(select(InboundUpdate))) == []
        assert list(await session.scalars(select(Identity))) == []


async def test_a_duplicate_delivery_is_processed_once(stack: Stack) -> None:
    user = stack.user()
    message_id = new_message_id()
    first = await user.send("text", message_id=message_id, MESSAGE_BODY_TEXT="/mulai")
    again = await user.send("text", message_id=message_id, MESSAGE_BODY_TEXT="/mulai")
    assert first and again == []
    answer = await user.says("Rina Marlina")
    assert ID("registration.ask_nip") in read(answer)


async def test_an_unsupported_type_gets_an_answer_and_the_conversation_stays(stack: Stack) -> None:
    user = stack.user()
    await user.says("/mulai")
    await user.says("Rina Marlina")
    for kind in ("sticker", "location", "audio", "contacts", "reaction"):
        answer = await user.send(kind, MEDIA_ID="123", MEDIA_SHA256="h")
        assert answer, f"no answer to a {kind}"
    answer = await user.says(NIP)
    assert ID("registration.ask_opd") in read(answer)


async def test_a_restart_mid_conversation_resumes_where_it_was(
    demo_core: Core, graph_api: FakeGraphApi, tmp_path: Path
) -> None:
    first = await open_stack(demo_core, graph_api, tmp_path)
    user = first.user()
    await user.says("/mulai")
    await user.says("Rina Marlina")
    await first.close()
    # Sent-marks are batched: write them now, or a busy machine leaves the last reply
    # unmarked and the new process resends it (which shows the question again by itself).
    await demo_core.flush_sent()
    async with open_core(demo_core.settings, migrate=False) as reopened:
        second = await open_stack(reopened, graph_api, tmp_path)
        try:
            user = second.user()
            user._seen = len(graph_api.sent_to(user.wa_id))
            answer = await user.says(NIP)
            # The question asked before the restart is shown again before an answer is taken.
            assert ID("flow.welcome_back") in read(answer)
            assert ID("registration.ask_nip") in read(answer)
            answer = await user.says(NIP)
            assert ID("registration.ask_opd") in read(answer)
        finally:
            await second.close()


async def test_a_message_stored_before_a_crash_is_answered_after_restart(
    demo_core: Core, graph_api: FakeGraphApi, tmp_path: Path
) -> None:
    first = await open_stack(demo_core, graph_api, tmp_path)
    user = first.user()
    await user.says("/mulai")
    # The process dies after storing the next message and answering 200, before processing.
    payload = first.poster.payload(
        "text", **user._values(new_message_id(), MESSAGE_BODY_TEXT="Rina Marlina")
    )
    from bot.channels.whatsapp_webhook import units_from_payload

    [unit] = units_from_payload(payload, graph_api.phone_number_id)
    assert await demo_core.inbound.store("whatsapp", unit.key, unit.payload)
    await first.close()
    async with open_core(demo_core.settings, migrate=False) as reopened:
        second = await open_stack(reopened, graph_api, tmp_path)
        try:
            await second.channel.idle()
            assert ID("registration.ask_nip") in visible_text(graph_api.sent_to(user.wa_id)[-1])
            assert await reopened.inbound.unprocessed("whatsapp") == []
        finally:
            await second.close()


# -- media ---------------------------------------------------------------------------------


async def test_a_document_sent_during_intake_is_kept_as_eviden(stack: Stack) -> None:
    user = stack.user()
    await register(user)
    await user.says("/ide")
    await user.says("SI-JEMPOL")
    await user.says("Lansia sulit datang ke puskesmas untuk cek kesehatan rutin.")
    await user.says("Petugas menjemput lansia sesuai jadwal yang dipesan.")
    await user.says("Meningkatkan cakupan layanan bagi warga.")
    await user.says("Warga terlayani lebih cepat dan murah.")
    await user.says("Warga lanjut usia")
    await user.taps("digital:no")
    await user.taps("form:pelayanan_publik")
    await user.says("kesehatan")
    await user.taps("initiator:asn")
    await user.taps("opd:own")
    await user.says("50 juta")
    media_id = stack.fake.add_media(b"%PDF-1.7 SK Tim Inovasi", "application/pdf")
    received = await user.send(
        "document",
        MEDIA_ID=media_id,
        MEDIA_SHA256="h",
        MEDIA_CAPTION="SK Tim",
        MEDIA_FILENAME="SK Tim.pdf",
    )
    assert received
    photo_id = stack.fake.add_media(b"\xff\xd8\xff\xe0 foto", "image/jpeg")
    await user.send("image", MEDIA_ID=photo_id, MEDIA_SHA256="h", MEDIA_CAPTION="")
    await user.taps("attach:done")
    await user.taps("summary:save")
    async with stack.core.database.sessions() as session:
        attachments = list(
            await session.scalars(select(IdeaAttachment).order_by(IdeaAttachment.id))
        )
    document, photo = attachments
    assert (document.kind, document.file_name) == ("document", "SK Tim.pdf")
    assert photo.kind == "photo"
    stored = Path(document.storage_path)
    assert stored.parent.name == "whatsapp"
    assert stored.read_bytes() == b"%PDF-1.7 SK Tim Inovasi"  # noqa: ASYNC240


# -- the 24-hour window with the real core ------------------------------------------------


async def test_bot_initiated_sends_follow_the_window(stack: Stack) -> None:
    user = stack.user()
    await user.says("/mulai")
    await stack.channel.send(user.wa_id, [Reply("Pengingat tahap Design")])
    assert visible_text(stack.fake.sent_to(user.wa_id)[-1]) == "Pengingat tahap Design"
    stack.offset[0] = timedelta(hours=25)
    with pytest.raises(TemplateError):
        await stack.channel.send(user.wa_id, [Reply("Pengingat tahap Design")])
    await stack.channel.send(
        user.wa_id,
        [Reply("Pengingat tahap Design")],
        template=TemplateRequest("stage_reminder", ("Rina", "SI-JEMPOL", "Design", "31 Maret")),
    )
    last = stack.fake.sent_to(user.wa_id)[-1]
    assert last["type"] == "template" and last["template"]["name"] == "sasi_pengingat_tahap"


# -- one person, two channels --------------------------------------------------------------


async def test_a_telegram_user_links_their_whatsapp_number(stack: Stack) -> None:
    telegram = ChatDriver(stack.core, channel="telegram")
    await telegram.register("777001", nip=NIP)
    user = stack.user()
    await user.says("/mulai")
    await user.says("Rina Marlina")
    answer = await user.says(NIP)
    assert [external for external, _ in stack.telegram.sent] == ["777001"]
    assert ID("link.code_sent", channels=ID("channel.telegram")) in read(answer)
    done = await user.says(stack.telegram.code())
    assert "Rina Marlina" in read(done)
    async with stack.core.database.sessions() as session:
        identities = list(await session.scalars(select(Identity)))
    assert {i.channel for i in identities} == {"telegram", "whatsapp"}
    assert len({i.user_id for i in identities}) == 1


async def test_three_wrong_codes_end_the_attempt(stack: Stack) -> None:
    telegram = ChatDriver(stack.core, channel="telegram")
    await telegram.register("777001", nip=NIP)
    user = stack.user()
    await user.says("/mulai")
    await user.says("Rina Marlina")
    await user.says(NIP)
    code = stack.telegram.code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    await user.says(wrong)
    await user.says(wrong)
    failed = await user.says(wrong)
    assert ID("link.failed") in read(failed)
    async with stack.core.database.sessions() as session:
        identities = list(await session.scalars(select(Identity)))
    assert len({i.user_id for i in identities}) == 2  # not linked


async def test_a_whatsapp_user_links_their_telegram_account(stack: Stack) -> None:
    user = stack.user()
    await register(user)
    telegram = ChatDriver(stack.core, channel="telegram")
    await telegram.say("777001", "/mulai")
    await telegram.say("777001", "Rina Marlina")
    await telegram.say("777001", NIP)
    code_message = read(user.new_messages())
    codes = re.findall(r"\b\d{6}\b", code_message)
    assert codes, code_message
    await telegram.say("777001", codes[-1])
    assert "Rina Marlina" in telegram.text("777001")
    async with stack.core.database.sessions() as session:
        identities = list(await session.scalars(select(Identity)))
    assert len({i.user_id for i in identities}) == 1
    # Ideas belong to the person: submitted on WhatsApp, seen on Telegram.
    await submit_idea(
        user,
        "SI-JEMPOL",
        "Lansia sulit datang ke puskesmas untuk cek kesehatan rutin.",
        "Petugas menjemput lansia sesuai jadwal yang dipesan.",
    )
    await telegram.say("777001", "/ideku")
    assert "SI-JEMPOL" in telegram.text("777001")


async def test_an_incoming_for_telegram_never_reaches_whatsapp(stack: Stack) -> None:
    await stack.core.handle(Incoming(channel="telegram", sender_id="777002", text="/mulai"))
    assert stack.fake.messages == []


async def test_a_code_for_a_whatsapp_number_outside_the_window_goes_as_a_template(
    stack: Stack,
) -> None:
    user = stack.user()
    await register(user)
    stack.offset[0] = timedelta(hours=25)  # the person last wrote more than a day ago
    telegram = ChatDriver(stack.core, channel="telegram")
    await telegram.say("777001", "/mulai")
    await telegram.say("777001", "Rina Marlina")
    await telegram.say("777001", NIP)
    [message] = user.new_messages()
    assert message["type"] == "template"  # no free-form message outside the window
    assert message["template"]["name"] == "sasi_kode_tautan"
    [component] = message["template"]["components"]
    [parameter] = component["parameters"]
    code = parameter["text"]
    assert code.isdigit() and len(code) == 6
    replies = await telegram.say("777001", code)
    assert "Rina Marlina" in replies[0].text  # linked with the code the template carried
