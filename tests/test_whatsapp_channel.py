"""The WhatsApp channel through its real webhook server, with a stand-in for the engine.

These tests pin the channel's own duties (signatures, storing before answering, redelivery,
statuses, media, retries, the 24-hour window) independently of the conversations; the
end-to-end conversations through the real core are in ``test_whatsapp_e2e.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.channels.whatsapp import WhatsAppChannel
from bot.channels.whatsapp_api import GraphApiError
from bot.channels.whatsapp_templates import DEFAULT_TEMPLATES, TemplateError, TemplateRequest
from bot.config import ConfigError, Settings
from bot.web import build_web_app, start_web_app
from handlers.messages import Choice, Incoming, Outcome, Reply
from storage.db import Database
from storage.inbound import InboundStore, claim_update
from storage.message_status import MessageStatus, OutgoingMessage
from storage.models import InboundUpdate
from tests.fakes.core_side import ChannelSide
from tests.fakes.graph_api import FakeGraphApi, WebhookPoster, WhatsAppUser, new_message_id

SECRET = "app-secret-for-tests"
VERIFY = "verify-token-for-tests"
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class StandInCore(ChannelSide):
    """Just enough of ``bot.app.Core``: claims updates once, answers what a test says."""

    database: Database
    inbound: InboundStore
    answer: Callable[[Incoming], list[Reply]] = lambda incoming: [Reply("Diterima.")]
    seen: list[Incoming] = field(default_factory=list)
    last_inbound: dict[str, datetime] = field(default_factory=dict)
    senders: dict[str, object] = field(default_factory=dict)
    gate: asyncio.Event | None = None

    async def handle(self, incoming: Incoming) -> Outcome:
        if self.gate is not None:
            await self.gate.wait()
        # Like the engine: the claim commits only with the answer, so a failure undoes it.
        async with self.database.sessions() as session, session.begin():
            if incoming.update_key and not await claim_update(
                session, incoming.channel, incoming.update_key
            ):
                return Outcome(duplicate=True)
            replies = self.answer(incoming)
        self.seen.append(incoming)
        self.last_inbound[incoming.sender_id] = NOW
        return Outcome(replies=replies)

    async def last_inbound_at(self, channel: str, external_id: str) -> datetime | None:
        return self.last_inbound.get(external_id)



@dataclass
class Rig:
    fake: FakeGraphApi
    core: StandInCore
    channel: WhatsAppChannel
    poster: WebhookPoster
    url: str
    http: aiohttp.ClientSession
    delays: list[float]
    clock: list[datetime]

    def user(self, wa_id: str = "6281234567890", name: str = "Siti Aminah") -> WhatsAppUser:
        return WhatsAppUser(self.poster, self.fake, self.channel.idle, wa_id, name)

    async def count(self, model: type) -> int:
        async with self.core.database.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def graph_api() -> AsyncIterator[FakeGraphApi]:
    fake = FakeGraphApi()
    fake.templates = {
        spec.name: (spec.language, len(spec.parameters)) for spec in DEFAULT_TEMPLATES.values()
    }
    await fake.start()
    yield fake
    await fake.close()
    assert fake.violations == [], "the channel broke a documented Cloud API rule"


def wa_settings(database_url: str, tmp_path: Path, fake: FakeGraphApi) -> Settings:
    return Settings(
        database_url=database_url,
        attachments_dir=tmp_path / "attachments",
        whatsapp_token=fake.token,
        whatsapp_phone_number_id=fake.phone_number_id,
        whatsapp_app_secret=SECRET,
        whatsapp_verify_token=VERIFY,
        whatsapp_api_base_url=fake.base_url,
    )


async def open_rig(
    settings: Settings, fake: FakeGraphApi, core: StandInCore, **channel_options: object
) -> tuple[Rig, aiohttp.web.AppRunner]:
    delays: list[float] = []
    clock = [NOW]

    async def sleep(delay: float) -> None:
        delays.append(delay)

    channel = WhatsAppChannel(
        settings,
        core,
        clock=lambda: clock[0],
        sleep=sleep,
        backoff=lambda attempt: float(attempt),
        **channel_options,  # type: ignore[arg-type]
    )
    app = build_web_app(core.database, [channel])
    runner = await start_web_app(app, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/webhooks/whatsapp"
    await channel.start()
    http = aiohttp.ClientSession()
    values = {
        "WHATSAPP_BUSINESS_ACCOUNT_ID": "102290129340398",
        "BUSINESS_DISPLAY_PHONE_NUMBER": "6281100001111",
        "BUSINESS_PHONE_NUMBER_ID": fake.phone_number_id,
    }
    poster = WebhookPoster(http, url, SECRET, values)
    return Rig(fake, core, channel, poster, url, http, delays, clock), runner


@pytest.fixture
async def rig(database_url: str, tmp_path: Path, graph_api: FakeGraphApi) -> AsyncIterator[Rig]:
    database = Database(database_url)
    core = StandInCore(database, InboundStore(database))
    settings = wa_settings(database_url, tmp_path, graph_api)
    opened, runner = await open_rig(settings, graph_api, core)
    yield opened
    await opened.http.close()
    await opened.channel.stop()
    await runner.cleanup()
    await database.dispose()


# -- configuration and the verification handshake ----------------------------------------


def test_the_channel_refuses_to_run_without_its_secrets(tmp_path: Path) -> None:
    settings = Settings(whatsapp_token="t", whatsapp_phone_number_id="1")
    with pytest.raises(ConfigError, match="WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN"):
        WhatsAppChannel(settings, object())  # type: ignore[arg-type]


async def test_verification_handshake(rig: Rig) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    async with rig.http.get(rig.url, params=query) as response:
        assert response.status == 200
        assert await response.text() == "1158201444"
    async with rig.http.get(rig.url, params={**query, "hub.verify_token": "guess"}) as response:
        assert response.status == 403
    async with rig.http.get(rig.url, params={**query, "hub.mode": "unsubscribe"}) as response:
        assert response.status == 403
    async with rig.http.get(rig.url) as response:
        assert response.status == 403


# -- signatures, storing, redelivery --------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
async def test_a_missing_or_forged_signature_is_refused_and_nothing_stored(
    rig: Rig, signature: str | None
) -> None:
    payload = rig.poster.payload(
        "text",
        WHATSAPP_USER_ID="6281234567890",
        WHATSAPP_USER_PHONE_NUMBER="6281234567890",
        WHATSAPP_USER_NAME="Siti",
        WHATSAPP_MESSAGE_ID=new_message_id(),
        WEBHOOK_SENT_TIMESTAMP="1767225600",
        MESSAGE_BODY_TEXT="halo",
    )
    assert await rig.poster.post(payload, signature=signature) == 403
    await rig.channel.idle()
    assert await rig.count(InboundUpdate) == 0
    assert rig.core.seen == []
    assert rig.fake.messages == []


async def test_a_body_signed_with_another_secret_is_refused(rig: Rig) -> None:
    rig.poster.secret = "not-the-app-secret"
    user = rig.user()
    with pytest.raises(AssertionError, match="webhook answered 403"):
        await user.says("halo")
    assert await rig.count(InboundUpdate) == 0


async def test_a_signed_text_is_stored_answered_and_processed(rig: Rig) -> None:
    user = rig.user()
    sent = await user.says("halo")
    [incoming] = rig.core.seen
    assert incoming.channel == "whatsapp"
    assert incoming.sender_id == "6281234567890"
    assert incoming.sender_name == "Siti Aminah"
    assert incoming.text == "halo"
    assert incoming.update_key and incoming.update_key.startswith("wamid.")
    assert [m["text"]["body"] for m in sent] == ["Diterima."]
    assert rig.fake.message_requests()[0].headers["Authorization"] == "Bearer test-token"


async def test_the_update_is_stored_before_the_answer_and_processed_after(rig: Rig) -> None:
    rig.core.gate = asyncio.Event()
    user = rig.user()
    payload = rig.poster.payload("text", **user._values(new_message_id(), MESSAGE_BODY_TEXT="a"))
    assert await rig.poster.post(payload) == 200  # answered while the engine is still blocked
    async with rig.core.database.sessions() as session:
        [row] = list(await session.scalars(select(InboundUpdate)))
    assert row.processed_at is None and row.payload is not None
    assert rig.core.seen == []
    rig.core.gate.set()
    await rig.channel.idle()
    assert [i.text for i in rig.core.seen] == ["a"]


async def test_a_message_delivered_twice_is_processed_once(rig: Rig) -> None:
    user = rig.user()
    message_id = new_message_id()
    await user.send("text", message_id=message_id, MESSAGE_BODY_TEXT="halo")
    await user.send("text", message_id=message_id, MESSAGE_BODY_TEXT="halo")
    assert len(rig.core.seen) == 1
    assert len(rig.fake.messages) == 1
    assert await rig.count(InboundUpdate) == 1


async def test_a_redelivery_while_the_first_is_in_flight_is_processed_once(rig: Rig) -> None:
    rig.core.gate = asyncio.Event()
    user = rig.user()
    payload = rig.poster.payload("text", **user._values(new_message_id(), MESSAGE_BODY_TEXT="a"))
    assert await rig.poster.post(payload) == 200
    assert await rig.poster.post(payload) == 200
    rig.core.gate.set()
    await rig.channel.idle()
    assert len(rig.core.seen) == 1


async def test_one_webhook_with_several_messages_keeps_each_sender_in_order(rig: Rig) -> None:
    order: list[str] = []

    def answer(incoming: Incoming) -> list[Reply]:
        order.append(f"{incoming.sender_id}:{incoming.text}")
        return []

    rig.core.answer = answer
    payload = rig.poster.payload("text", **rig.user()._values("wamid.A1", MESSAGE_BODY_TEXT="1"))
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    template = dict(messages[0])
    messages.clear()
    for number, (sender, text) in enumerate(
        [("62811", "1"), ("62822", "1"), ("62811", "2"), ("62811", "3"), ("62822", "2")]
    ):
        messages.append(
            {**template, "from": sender, "id": f"wamid.M{number}", "text": {"body": text}}
        )
    assert await rig.poster.post(payload) == 200
    await rig.channel.idle()
    assert [o for o in order if o.startswith("62811")] == ["62811:1", "62811:2", "62811:3"]
    assert [o for o in order if o.startswith("62822")] == ["62822:1", "62822:2"]


async def test_a_webhook_for_another_phone_number_is_ignored(rig: Rig) -> None:
    user = rig.user()
    await user.send("text", MESSAGE_BODY_TEXT="halo", BUSINESS_PHONE_NUMBER_ID="999999")
    assert rig.core.seen == []
    assert await rig.count(InboundUpdate) == 0


# -- inbound types ----------------------------------------------------------------------------


async def test_button_and_list_replies_arrive_as_choices(rig: Rig) -> None:
    rig.core.answer = lambda incoming: [
        Reply("Pilih", (Choice("opd:1", "Dinas Kesehatan"), Choice("opd:2", "Bappeda")))
    ]
    user = rig.user()
    [offer] = await user.says("mulai")
    assert offer["interactive"]["type"] == "button"
    await user.taps("Bappeda")
    assert rig.core.seen[-1].choice == "opd:2"
    assert rig.core.seen[-1].text is None
    await user.send(
        "interactive_list_reply", ROW_ID="opd:1", ROW_TITLE="Dinkes", ROW_DESCRIPTION=""
    )
    assert rig.core.seen[-1].choice == "opd:1"


@pytest.mark.parametrize("kind", ["sticker", "location", "reaction", "audio", "contacts"])
async def test_other_types_reach_the_core_as_unsupported(rig: Rig, kind: str) -> None:
    user = rig.user()
    sent = await user.send(kind, MEDIA_ID="1", MEDIA_SHA256="x")
    [incoming] = rig.core.seen
    assert incoming.unsupported == kind
    assert incoming.text is None and incoming.choice is None and incoming.attachments == ()
    assert len(sent) == 1  # the core's polite answer went out
    assert not any(r.path.startswith("/download") for r in rig.fake.requests)


async def test_an_image_is_fetched_at_once_and_kept(rig: Rig, tmp_path: Path) -> None:
    data = b"\xff\xd8\xff\xe0 a jpeg of the launch"
    media_id = rig.fake.add_media(data, "image/jpeg")
    user = rig.user()
    await user.send("image", MEDIA_ID=media_id, MEDIA_SHA256="h", MEDIA_CAPTION="Peluncuran")
    [incoming] = rig.core.seen
    [attachment] = incoming.attachments
    assert attachment.kind == "photo"
    assert attachment.mime_type == "image/jpeg"
    assert attachment.size == len(data)
    assert attachment.path.read_bytes() == data
    assert attachment.path.parent == tmp_path / "attachments" / "whatsapp"
    assert attachment.file_name.endswith(".jpg")
    assert incoming.text == "Peluncuran"
    download = [r for r in rig.fake.requests if r.path.startswith("/download")]
    assert download and download[0].headers["Authorization"] == "Bearer test-token"


async def test_a_document_keeps_its_file_name(rig: Rig) -> None:
    media_id = rig.fake.add_media(b"%PDF-1.7 SK tim", "application/pdf")
    user = rig.user()
    await user.send(
        "document",
        MEDIA_ID=media_id,
        MEDIA_SHA256="h",
        MEDIA_CAPTION="SK Tim",
        MEDIA_FILENAME="SK Tim Inovasi/2027.pdf",
    )
    [attachment] = rig.core.seen[0].attachments
    assert attachment.kind == "document"
    assert attachment.file_name == "SK Tim Inovasi/2027.pdf"
    assert attachment.path.name.endswith(
        "SK_Tim_Inovasi_2027.pdf"
    ) or attachment.path.name.endswith("2027.pdf")
    assert attachment.path.parent.name == "whatsapp"  # the user's "/" cannot escape the folder
    assert attachment.path.read_bytes() == b"%PDF-1.7 SK tim"


async def test_a_file_over_the_limit_is_not_downloaded(
    database_url: str, tmp_path: Path, graph_api: FakeGraphApi
) -> None:
    database = Database(database_url)
    core = StandInCore(database, InboundStore(database))
    settings = wa_settings(database_url, tmp_path, graph_api)
    rig, runner = await open_rig(settings, graph_api, core, max_media_bytes=10)
    try:
        media_id = graph_api.add_media(b"x" * 11, "application/pdf")
        await rig.user().send(
            "document",
            MEDIA_ID=media_id,
            MEDIA_SHA256="h",
            MEDIA_CAPTION="",
            MEDIA_FILENAME="a.pdf",
        )
        [incoming] = core.seen
        assert incoming.too_large and incoming.attachments == ()
        assert not any(r.path.startswith("/download") for r in graph_api.requests)
    finally:
        await rig.http.close()
        await rig.channel.stop()
        await runner.cleanup()
        await database.dispose()


# -- statuses -----------------------------------------------------------------------------


async def test_statuses_are_recorded_against_the_message_they_concern(rig: Rig) -> None:
    user = rig.user()
    await user.says("halo")
    wamid = rig.fake.message_ids[-1]
    for state in ("sent", "read", "delivered"):  # Meta does not promise the order
        await user.send(
            f"status_{state}",
            WHATSAPP_MESSAGE_ID=wamid,
            CONVERSATION_ID="c1",
            CONVERSATION_EXPIRATION_TIMESTAMP="1767312000",
        )
    # The same status delivered twice is recorded once.
    await user.send("status_read", WHATSAPP_MESSAGE_ID=wamid)
    async with rig.core.database.sessions() as session:
        statuses = list(
            await session.scalars(select(MessageStatus).where(MessageStatus.wamid == wamid))
        )
        sent = await session.scalar(select(OutgoingMessage).where(OutgoingMessage.wamid == wamid))
    assert sorted(s.status for s in statuses) == ["delivered", "read", "sent"]
    assert all(s.recipient == user.wa_id for s in statuses)
    assert sent is not None and sent.recipient == user.wa_id and sent.kind == "text"
    assert sent.last_status == "read"
    assert rig.core.seen[0].text == "halo" and len(rig.core.seen) == 1
    assert await rig.core.inbound.unprocessed("whatsapp") == []


async def test_a_failed_status_keeps_the_error(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    user = rig.user()
    await user.says("halo")
    wamid = rig.fake.message_ids[-1]
    with caplog.at_level(logging.ERROR):
        await user.send("status_failed", WHATSAPP_MESSAGE_ID=wamid)
    async with rig.core.database.sessions() as session:
        status = await session.scalar(select(MessageStatus).where(MessageStatus.status == "failed"))
        sent = await session.scalar(select(OutgoingMessage).where(OutgoingMessage.wamid == wamid))
    assert status is not None
    assert (status.error_code, status.error_title) == (131047, "Re-engagement message")
    assert status.error_details and "24 hours" in status.error_details
    assert sent is not None and sent.last_status == "failed"
    assert any("131047" in record.getMessage() for record in caplog.records)


# -- retries ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "minimum_delay"), [("http429", 1.0), ("130429", 1.0), ("131056", 6.0), ("500", 1.0)]
)
async def test_rate_limits_and_server_errors_are_retried_with_backoff(
    rig: Rig, kind: str, minimum_delay: float
) -> None:
    rig.fake.fail_next(2, kind)
    sent = await rig.user().says("halo")
    assert [m["text"]["body"] for m in sent] == ["Diterima."]
    assert len(rig.fake.message_requests()) == 3
    assert len(rig.delays) == 2
    assert all(delay >= minimum_delay for delay in rig.delays)
    assert rig.delays[1] >= rig.delays[0]


async def test_when_retries_run_out_the_error_is_raised_not_dropped(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.core.last_inbound["62811"] = NOW
    rig.fake.fail_next(6, "130429")
    with pytest.raises(GraphApiError) as raised, caplog.at_level(logging.ERROR):
        await rig.channel.send("62811", [Reply("Pengumuman")])
    assert raised.value.code == 130429
    assert len(rig.fake.message_requests()) == 6
    assert any("failed after 6 attempt(s)" in r.getMessage() for r in caplog.records)


async def test_a_send_whose_answer_is_lost_is_not_sent_twice(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.core.last_inbound["62811"] = NOW
    rig.fake.drop_after_accepting_next(1)
    with pytest.raises(aiohttp.ClientError), caplog.at_level(logging.ERROR):
        await rig.channel.send("62811", [Reply("Pengumuman")])
    # Meta took it once; retrying would have delivered it twice. The failure is loud instead.
    assert [m["text"]["body"] for m in rig.fake.sent_to("62811")] == ["Pengumuman"]
    assert any("failed after 1 attempt(s)" in r.getMessage() for r in caplog.records)


async def test_a_permanent_error_is_not_retried(rig: Rig) -> None:
    rig.core.last_inbound["62811"] = NOW
    rig.fake.fail_next(1, "131047")
    with pytest.raises(GraphApiError, match="131047"):
        await rig.channel.send("62811", [Reply("Pengumuman")])
    assert len(rig.fake.message_requests()) == 1
    assert rig.delays == []


# -- the 24-hour window and templates ---------------------------------------------------------


async def test_inside_the_window_a_bot_initiated_send_is_free_form(rig: Rig) -> None:
    rig.core.last_inbound["62811"] = NOW - timedelta(hours=23, minutes=50)
    await rig.channel.send(
        "62811", [Reply("Laporan bulan ini?")], template=TemplateRequest("monitoring_prompt")
    )
    [message] = rig.fake.sent_to("62811")
    assert message["type"] == "text"
    assert message["text"]["body"] == "Laporan bulan ini?"


async def test_outside_the_window_the_configured_template_goes_out(rig: Rig) -> None:
    rig.core.last_inbound["62811"] = NOW - timedelta(hours=24, minutes=1)
    await rig.channel.send(
        "62811",
        [Reply("Laporan bulan ini?")],
        template=TemplateRequest("monitoring_prompt", ("Siti", "SI-JEMPOL", "Maret\n2027")),
    )
    [message] = rig.fake.sent_to("62811")
    assert message["type"] == "template"
    template = message["template"]
    assert (template["name"], template["language"]["code"]) == ("sasi_monev_bulanan", "id")
    assert [p["text"] for p in template["components"][0]["parameters"]] == [
        "Siti",
        "SI-JEMPOL",
        "Maret 2027",
    ]
    async with rig.core.database.sessions() as session:
        sent = await session.scalar(select(OutgoingMessage))
    assert sent is not None and sent.template_name == "sasi_monev_bulanan"


async def test_someone_who_never_wrote_gets_only_a_template(rig: Rig) -> None:
    await rig.channel.send(
        "62899", [Reply("x")], template=TemplateRequest("link_code", ("123456",))
    )
    [message] = rig.fake.sent_to("62899")
    assert message["template"]["name"] == "sasi_kode_tautan"


async def test_the_window_closes_a_little_before_24_hours(rig: Rig) -> None:
    rig.core.last_inbound["62811"] = NOW - timedelta(hours=23, minutes=57)
    with pytest.raises(TemplateError):
        await rig.channel.send("62811", [Reply("x")])
    assert rig.fake.messages == []


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (None, "names no template purpose"),
        (TemplateRequest("festival_invite"), "no WhatsApp template is configured"),
        (TemplateRequest("monitoring_prompt", ("Siti",)), "takes 3 parameters"),
    ],
)
async def test_a_missing_template_is_a_clear_error_never_a_silent_drop(
    rig: Rig,
    caplog: pytest.LogCaptureFixture,
    request_: TemplateRequest | None,
    message: str,
) -> None:
    rig.core.last_inbound["62811"] = NOW - timedelta(days=3)
    with caplog.at_level(logging.ERROR), pytest.raises(TemplateError, match=message):
        await rig.channel.send("62811", [Reply("Pengingat")], template=request_)
    assert rig.fake.messages == []
    # Logged, naming the person by SASI's identity id: never by their number (UU 27/2022).
    assert any(message in r.getMessage() and "identity" in r.getMessage() for r in caplog.records)
    assert not any("62811" in r.getMessage() for r in caplog.records)


async def test_a_template_meta_does_not_know_is_an_error_too(rig: Rig) -> None:
    rig.fake.templates.pop("sasi_siaran")
    with pytest.raises(GraphApiError, match="does not exist"):
        await rig.channel.send("62811", [], template=TemplateRequest("broadcast", ("Bappeda", "x")))
    rig.fake.violations.clear()  # provoked on purpose


async def test_the_core_can_deliver_through_the_registered_sender(rig: Rig) -> None:
    port = rig.core.senders["whatsapp"]
    rig.core.last_inbound["62811"] = NOW
    await port.deliver("62811", (Reply("Kode Anda 123456"),), template=None)  # type: ignore[attr-defined]
    assert [m["text"]["body"] for m in rig.fake.sent_to("62811")] == ["Kode Anda 123456"]


# -- rendering through the real API ---------------------------------------------------------


async def test_long_replies_and_many_choices_stay_within_limits(rig: Rig) -> None:
    long_text = "\n\n".join(f"Bagian {i}. " + "kalimat panjang " * 150 for i in range(4))
    rig.core.answer = lambda incoming: [
        Reply(long_text),
        Reply(
            long_text + "\n\nPilih OPD Anda:",
            tuple(Choice(f"opd:{i}", f"OPD nomor {i}", f"Organisasi {i}") for i in range(10)),
        ),
    ]
    sent = await rig.user().says("mulai")
    assert all(m["type"] == "text" for m in sent[:-1])
    assert sent[-1]["interactive"]["type"] == "list"
    assert sent[-1]["interactive"]["body"]["text"] == "Pilih OPD Anda:"
    assert len(sent[-1]["interactive"]["action"]["sections"][0]["rows"]) == 10


async def test_a_file_reply_is_uploaded_then_sent(rig: Rig, tmp_path: Path) -> None:
    from handlers.messages import OutgoingFile

    path = tmp_path / "rekap.pdf"
    path.write_bytes(b"%PDF rekap")
    rig.core.answer = lambda incoming: [
        Reply("Rekap OPD", file=OutgoingFile("document", path, "rekap.pdf"))
    ]
    [message] = await rig.user().says("/rekap")
    assert message["type"] == "document"
    assert message["document"]["caption"] == "Rekap OPD"
    assert message["document"]["filename"] == "rekap.pdf"
    assert rig.fake.uploads[message["document"]["id"]].data == b"%PDF rekap"


@pytest.mark.parametrize(
    ("name", "uploaded_as"),
    [
        ("direktori.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        # text/csv is not a type the Cloud API takes: it goes as plain text, named .csv.
        ("direktori.csv", "text/plain"),
    ],
)
async def test_an_export_is_uploaded_as_a_type_whatsapp_takes(
    rig: Rig, tmp_path: Path, name: str, uploaded_as: str
) -> None:
    from handlers.messages import OutgoingFile

    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbfID,Nama\r\n1,SI-JEMPOL\r\n")
    rig.core.answer = lambda incoming: [
        Reply("Direktori Inovasi", file=OutgoingFile("document", path, name))
    ]
    [message] = await rig.user().says("/ekspor")
    assert message["type"] == "document" and message["document"]["filename"] == name
    upload = rig.fake.uploads[message["document"]["id"]]
    assert (upload.mime_type, upload.file_name) == (uploaded_as, name)


# -- restart ------------------------------------------------------------------------------


async def test_updates_stored_before_a_crash_are_replayed_on_start(
    database_url: str, tmp_path: Path, graph_api: FakeGraphApi
) -> None:
    database = Database(database_url)
    core = StandInCore(database, InboundStore(database))
    settings = wa_settings(database_url, tmp_path, graph_api)
    # A previous run stored these, answered 200, and died before processing them.
    poster_values = {"BUSINESS_PHONE_NUMBER_ID": graph_api.phone_number_id}
    from bot.channels.whatsapp_webhook import units_from_payload
    from tests.fakes.graph_api import load_payload

    for number, text in enumerate(["pertama", "kedua"]):
        payload = load_payload(
            "text",
            **poster_values,
            WHATSAPP_BUSINESS_ACCOUNT_ID="1",
            BUSINESS_DISPLAY_PHONE_NUMBER="1",
            WHATSAPP_USER_ID="62811",
            WHATSAPP_USER_PHONE_NUMBER="62811",
            WHATSAPP_USER_NAME="Siti",
            WHATSAPP_MESSAGE_ID=f"wamid.CRASH{number}",
            WEBHOOK_SENT_TIMESTAMP="1767225600",
            MESSAGE_BODY_TEXT=text,
        )
        [unit] = units_from_payload(payload, graph_api.phone_number_id)
        assert await core.inbound.store("whatsapp", unit.key, unit.payload)
    rig, runner = await open_rig(settings, graph_api, core)
    try:
        await rig.channel.idle()
        assert [i.text for i in core.seen] == ["pertama", "kedua"]
        assert len(graph_api.sent_to("62811")) == 2
        assert await core.inbound.unprocessed("whatsapp") == []
    finally:
        await rig.http.close()
        await rig.channel.stop()
        await runner.cleanup()
        await database.dispose()


async def test_a_redelivery_retries_an_update_whose_processing_failed(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def answer(incoming: Incoming) -> list[Reply]:
        calls.append(incoming.text or "")
        if len(calls) == 1:
            raise RuntimeError("the engine tripped")
        return [Reply("Diterima.")]

    rig.core.answer = answer
    rig.core.gate = None
    user = rig.user()
    message_id = new_message_id()
    with caplog.at_level(logging.ERROR):
        assert await user.send("text", message_id=message_id, MESSAGE_BODY_TEXT="halo") == []
    assert any("processing WhatsApp update" in r.getMessage() for r in caplog.records)
    assert await rig.core.inbound.unprocessed("whatsapp") != []
    sent = await user.send("text", message_id=message_id, MESSAGE_BODY_TEXT="halo")
    assert [m["text"]["body"] for m in sent] == ["Diterima."]
    assert calls == ["halo", "halo"]


async def test_a_webhook_before_start_or_after_stop_waits_for_the_next_start(rig: Rig) -> None:
    await rig.channel.stop()
    user = rig.user()
    assert await user.says("halo") == []  # stored and answered 200, not processed yet
    assert rig.core.seen == []
    await rig.channel.start()
    await rig.channel.idle()
    assert [i.text for i in rig.core.seen] == ["halo"]
    assert [m["text"]["body"] for m in user.new_messages()] == ["Diterima."]
