"""Hostile and unexpected WhatsApp webhooks (issues 18, 20): signed bodies of every wrong
shape are answered 200 and set aside, never processed and never a 5xx; ids that would go
into URLs or recipients are checked; what fails for good is set aside and its sender told;
what may pass is retried across starts with a limit.

The channel runs for real against the Graph API fake, with the stand-in core of
``test_whatsapp_channel``.
"""

# ruff: noqa: F811  (the rig fixtures are imported from test_whatsapp_channel and used by name)
from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from handlers.messages import Incoming, Reply
from storage.db import Database
from storage.inbound import InboundStore
from storage.models import InboundUpdate
from tests.fakes.graph_api import FakeGraphApi, new_message_id
from tests.test_whatsapp_channel import (  # noqa: F401 (fixtures)
    Rig,
    StandInCore,
    graph_api,
    open_rig,
    rig,
    wa_settings,
)

PHONE = "6281234567890"


def text_payload(rig: Rig, **values: str) -> dict[str, Any]:
    user = rig.user()
    return rig.poster.payload(
        "text", **user._values(values.pop("id", new_message_id()), MESSAGE_BODY_TEXT="halo")
    )


def _value(payload: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]
    return value


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = _value(payload)["messages"][0]
    return message


Mutation = Callable[[dict[str, Any]], Any]


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        path(payload)[key] = value

    return mutate


# Signed bodies of an unexpected shape, as found by the first fuzz run and the issue reports:
# (name, mutation, whether the sender can still be told).
MALFORMED: list[tuple[str, Mutation, bool]] = [
    ("changes a string", _set(lambda p: p["entry"][0], "changes", "x"), False),
    ("changes of strings", _set(lambda p: p["entry"][0], "changes", ["a", "b"]), False),
    ("entry an object", _set(lambda p: p, "entry", {"id": "1"}), False),
    ("entry of numbers", _set(lambda p: p, "entry", [1, 2]), False),
    ("contacts a string", _set(_value, "contacts", "Siti"), False),
    ("messages a string", _set(_value, "messages", "halo"), False),
    ("metadata missing", lambda p: _value(p).pop("metadata"), False),
    ("text a string", _set(_message, "text", "halo"), True),
    ("interactive a string", _set(_message, "interactive", "x"), True),
    ("from a list", _set(_message, "from", [PHONE]), False),
    ("from a number", _set(_message, "from", 6281234567890), False),
    ("from not a number", _set(_message, "from", "../../x"), False),
    ("id a number", _set(_message, "id", 12), False),
    ("id with spaces", _set(_message, "id", "wamid. x y"), False),
    ("type missing", lambda p: _message(p).pop("type"), True),
    ("a message a string", _set(_value, "messages", ["halo"]), False),
]


@pytest.mark.parametrize(
    ("mutate", "told"), [(m, t) for _, m, t in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
async def test_a_signed_body_of_an_unexpected_shape_is_set_aside_never_processed(
    rig: Rig, mutate: Mutation, told: bool
) -> None:
    rig.core.answer = lambda incoming: [Reply("gagal" if incoming.failed else "diproses")]
    payload = text_payload(rig)
    mutate(payload)
    assert await rig.poster.post(payload) == 200  # so Meta stops sending it again
    await rig.channel.idle()
    assert [i for i in rig.core.seen if not i.failed] == []  # nothing of it reached the core
    assert await rig.core.inbound.set_aside_count("whatsapp") == 1
    assert await rig.core.inbound.unprocessed("whatsapp") == []
    async with rig.core.database.sessions() as session:
        [row] = list(
            await session.scalars(select(InboundUpdate).where(InboundUpdate.failed_at.is_not(None)))
        )
    assert row.payload is not None and row.failure and "unexpected shape" in row.failure
    texts = [m["text"]["body"] for m in rig.fake.messages]
    assert texts == (["gagal"] if told else [])
    # Delivered again: still 200, still not processed, the sender not told twice.
    assert await rig.poster.post(payload) == 200
    await rig.channel.idle()
    assert [m["text"]["body"] for m in rig.fake.messages] == texts


async def test_a_contact_profile_of_the_wrong_shape_loses_only_the_name(rig: Rig) -> None:
    payload = text_payload(rig)
    _value(payload)["contacts"][0]["profile"] = "Siti"
    assert await rig.poster.post(payload) == 200
    await rig.channel.idle()
    [incoming] = rig.core.seen
    assert incoming.text == "halo" and incoming.sender_name is None


async def test_a_status_with_errors_not_a_list_is_set_aside(rig: Rig) -> None:
    user = rig.user()
    payload = rig.poster.payload("status_failed", **user._values("wamid.S1"))
    _value(payload)["statuses"][0]["errors"] = {"code": 131047}
    assert await rig.poster.post(payload) == 200
    await rig.channel.idle()
    assert await rig.core.inbound.set_aside_count("whatsapp") == 1
    assert await rig.core.inbound.unprocessed("whatsapp") == []


@pytest.mark.parametrize("body", [b"[1, 2]", b"42", b'"text"', b"null", b"{}"])
async def test_signed_json_that_is_not_a_webhook_is_answered_and_set_aside(
    rig: Rig, body: bytes
) -> None:
    from bot.channels.whatsapp_webhook import sign

    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(rig.poster.secret, body),
    }
    async with rig.http.post(rig.url, data=body, headers=headers) as response:
        assert response.status == 200
    assert await rig.core.inbound.set_aside_count("whatsapp") == 1
    assert rig.core.seen == []


async def test_deeply_nested_json_is_a_400_not_a_500(rig: Rig) -> None:
    from bot.channels.whatsapp_webhook import sign

    body = b"[" * 100_000 + b"]" * 100_000
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(rig.poster.secret, body),
    }
    async with rig.http.post(rig.url, data=body, headers=headers) as response:
        assert response.status == 400
    assert rig.core.seen == []


async def test_a_body_over_the_limit_is_refused_before_it_is_read(rig: Rig) -> None:
    from bot.channels.whatsapp import MAX_WEBHOOK_BYTES

    body = b"{" + b" " * MAX_WEBHOOK_BYTES + b"}"
    async with rig.http.post(rig.url, data=body, headers={"X-Hub-Signature-256": "x"}) as response:
        assert response.status == 413

    async def chunks() -> Any:  # no Content-Length: cut off while reading
        for _ in range(MAX_WEBHOOK_BYTES // 65536 + 2):
            yield b" " * 65536

    async with rig.http.post(rig.url, data=chunks()) as response:
        assert response.status == 413
    assert await rig.count(InboundUpdate) == 0


# -- ids that go into URLs and recipients ---------------------------------------------------


@pytest.mark.parametrize("media_id", ["../../etc/passwd", "", "1/../2", "%2e%2e", "a b", "1?x=2"])
async def test_a_media_id_that_is_no_id_never_reaches_the_graph_api(
    rig: Rig, media_id: str
) -> None:
    rig.core.answer = lambda incoming: [Reply("gagal" if incoming.failed else "diproses")]
    await rig.user().send("image", MEDIA_ID=media_id, MEDIA_SHA256="h", MEDIA_CAPTION="")
    assert [r.path for r in rig.fake.requests if r.method == "GET"] == []
    assert [m["text"]["body"] for m in rig.fake.messages] == ["gagal"]


async def test_ids_in_graph_api_paths_are_quoted_whole(rig: Rig) -> None:
    from bot.channels.whatsapp_api import GraphApiError

    with pytest.raises(GraphApiError):
        await rig.channel.client.media_info("../../etc/passwd")
    [request] = rig.fake.requests
    assert request.raw_path == "/v21.0/..%2F..%2Fetc%2Fpasswd"  # one segment, not a path
    rig.fake.violations.clear()  # the fake calls an unknown path a violation
    with pytest.raises(ValueError):
        await rig.channel.client.media_info("")


# -- failures: for good, or for now --------------------------------------------------------


async def test_media_that_is_gone_is_set_aside_and_the_sender_told(rig: Rig) -> None:
    rig.core.answer = lambda incoming: [Reply("gagal" if incoming.failed else "diproses")]
    await rig.user().send("image", MEDIA_ID="999", MEDIA_SHA256="h", MEDIA_CAPTION="")  # 404
    assert [m["text"]["body"] for m in rig.fake.messages] == ["gagal"]
    assert await rig.core.inbound.set_aside_count("whatsapp") == 1
    assert await rig.core.inbound.unprocessed("whatsapp") == []


async def test_a_failure_that_may_pass_is_retried_at_each_start_then_set_aside(
    database_url: str,
    tmp_path: Path,
    graph_api: FakeGraphApi,
) -> None:
    database = Database(database_url)
    core = StandInCore(database, InboundStore(database))
    core.answer = lambda incoming: [Reply("gagal" if incoming.failed else "diproses")]
    settings = wa_settings(database_url, tmp_path, graph_api)
    media_id = graph_api.add_media(b"\xff\xd8 foto", "image/jpeg")
    first, runner = await open_rig(settings, graph_api, core)
    try:
        graph_api.fail_next(6, "500")  # every attempt of the media fetch
        await first.user().send("image", MEDIA_ID=media_id, MEDIA_SHA256="h", MEDIA_CAPTION="")
        assert graph_api.messages == []  # not told: it may still work
        [_row] = await core.inbound.unprocessed("whatsapp")
    finally:
        await first.http.close()
        await first.channel.stop()
        await runner.cleanup()
    fetches: list[int] = []
    for _start in range(2):
        before = len([r for r in graph_api.requests if r.path.endswith(f"/{media_id}")])
        graph_api.fail_next(6, "500")
        again, runner = await open_rig(settings, graph_api, core)
        await again.channel.idle()
        fetches.append(
            len([r for r in graph_api.requests if r.path.endswith(f"/{media_id}")]) - before
        )
        await again.http.close()
        await again.channel.stop()
        await runner.cleanup()
    # One pass per start (6 attempts by the client), never a second pass of the same start.
    assert fetches == [6, 6]
    assert await core.inbound.unprocessed("whatsapp") == []
    assert await core.inbound.set_aside_count("whatsapp") == 1
    assert [m["text"]["body"] for m in graph_api.messages] == ["gagal"]  # told once, at last
    await database.dispose()


async def test_a_malformed_unit_stored_by_an_older_version_is_set_aside_at_start(
    database_url: str,
    tmp_path: Path,
    graph_api: FakeGraphApi,
) -> None:
    database = Database(database_url)
    core = StandInCore(database, InboundStore(database))
    core.answer = lambda incoming: [Reply("gagal" if incoming.failed else "diproses")]
    settings = wa_settings(database_url, tmp_path, graph_api)
    stored = {
        "kind": "message",
        "message": {"from": PHONE, "id": "wamid.OLD1", "type": "text", "text": "halo"},
        "contact": None,
    }
    assert await core.inbound.store("whatsapp", "wamid.OLD1", stored)
    assert await core.inbound.store("whatsapp", "status:x", {"kind": "status", "status": "x"})
    rig_, runner = await open_rig(settings, graph_api, core)
    try:
        await rig_.channel.idle()
        assert await core.inbound.unprocessed("whatsapp") == []
        assert await core.inbound.set_aside_count("whatsapp") == 2
        assert [m["text"]["body"] for m in graph_api.sent_to(PHONE)] == ["gagal"]
    finally:
        await rig_.http.close()
        await rig_.channel.stop()
        await runner.cleanup()
        await database.dispose()


# -- a flood from one sender ---------------------------------------------------------------


async def test_a_flood_from_one_sender_does_not_starve_another(rig: Rig) -> None:
    flood_gate = asyncio.Event()
    handled: list[str] = []
    original = rig.core.handle

    async def handle(incoming: Incoming) -> Any:
        if incoming.sender_id == "62899":
            await flood_gate.wait()  # the flood is slow to process
        handled.append(incoming.sender_id)
        return await original(incoming)

    rig.core.handle = handle  # type: ignore[method-assign]
    payload = text_payload(rig)
    messages = _value(payload)["messages"]
    template = copy.deepcopy(messages[0])
    messages.clear()
    for number in range(50):
        messages.append({**template, "from": "62899", "id": f"wamid.FLOOD{number}"})
    assert await rig.poster.post(payload) == 200
    other = rig.user("62811", "Budi")
    other_payload = rig.poster.payload(
        "text", **other._values(new_message_id(), MESSAGE_BODY_TEXT="halo")
    )
    assert await rig.poster.post(other_payload) == 200
    for _ in range(1000):  # the other person's answer, while the flood is held
        if rig.fake.sent_to("62811"):
            break
        await asyncio.sleep(0.01)
    assert [m["text"]["body"] for m in rig.fake.sent_to("62811")] == ["Diterima."]
    assert handled == ["62811"]  # served while all 50 of the flood still wait
    flood_gate.set()
    await rig.channel.idle()
    assert handled.count("62899") == 50
    assert len(rig.fake.sent_to("62899")) == 50


def test_the_recorded_payloads_parse_to_the_declared_shape() -> None:
    from bot.channels.whatsapp_webhook import units_from_payload
    from tests.fakes.graph_api import DATA_DIR

    for path in sorted(DATA_DIR.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        filled = text.replace("<BUSINESS_PHONE_NUMBER_ID>", "1")
        for placeholder in set(__import__("re").findall(r"<([A-Z0-9_]+)>", filled)):
            value = {
                "WHATSAPP_USER_ID": PHONE,
                "WHATSAPP_USER_PHONE_NUMBER": PHONE,
                "WHATSAPP_BSUID": "ID.1234567890123456",
                "WHATSAPP_MESSAGE_ID": "wamid.X1",
                "MEDIA_ID": "123",
            }.get(placeholder, "x")
            filled = filled.replace(f"<{placeholder}>", value)
        units = units_from_payload(json.loads(filled), "1")
        assert units and all(u.problem is None for u in units), (path.name, units)
