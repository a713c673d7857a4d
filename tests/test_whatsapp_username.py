# ruff: noqa: F811  (the stack fixtures are imported from test_whatsapp_e2e and used by name)
"""WhatsApp users who write from a username (issue 19): Meta names them by a business-scoped
user id (BSUID) in ``from_user_id`` and in the contact's ``user_id``, with no phone number;
answers go in ``recipient``. Whole conversations through the real channel, core and
database, against the Graph API fake, with payloads written from Meta's documented format.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from storage.identities import canonical_address
from storage.message_status import MessageStatus, OutgoingMessage
from storage.models import Identity, IdentityAlias
from tests.chat import ID, ChatDriver
from tests.pii import personal_data_in
from tests.test_whatsapp_e2e import (
    NIP,
    Stack,
    graph_api,  # noqa: F401
    ideas,
    read,
    register,
    stack,  # noqa: F401
    submit_idea,
)

BSUID = "ID.1502576394655843"
PHONE = "6281234567890"


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log line of these runs, at DEBUG, names nobody (issue 20.5, UU 27/2022)."""
    caplog.set_level(logging.DEBUG)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    assert personal_data_in(records, ["Rina"]) == []


async def identities(stack: Stack) -> list[Identity]:
    async with stack.core.database.sessions() as session:
        return list(await session.scalars(select(Identity).order_by(Identity.id)))


async def test_a_person_known_only_by_username_registers_and_submits_an_idea(
    stack: Stack,
) -> None:
    user = stack.user(BSUID, "Rina")
    welcome = await user.says("/mulai")
    assert ID("registration.ask_name") in read(welcome)
    # Every answer went in "recipient", none in "to" (the fake checks the form of each).
    assert all(m.get("recipient") == BSUID and "to" not in m for m in welcome)
    await user.says("Rina Marlina")
    await user.says(NIP)
    await user.says("kesehatan")
    await user.taps("Dinkes")  # a reply button from a username-only person
    done = await user.says("Pranata Komputer")
    assert ID("registration.done", name="Rina Marlina") in read(done)
    await submit_idea(
        user,
        "SI-JEMPOL",
        "Lansia sulit datang ke puskesmas untuk cek kesehatan rutin.",
        "Petugas puskesmas menjemput lansia dengan jadwal yang dipesan lewat WhatsApp.",
    )
    [idea] = await ideas(stack.core)
    assert idea.name == "SI-JEMPOL"
    mine = await user.says("/ideku")
    assert "SI-JEMPOL" in read(mine)
    [identity] = await identities(stack)
    assert (identity.channel, identity.external_id) == ("whatsapp", BSUID)
    assert identity.display_name == "Rina"  # the contact entry keyed by user_id
    assert {m.get("recipient") for m in stack.fake.messages} == {BSUID}


@pytest.mark.parametrize("first", ["phone", "username", "both"])
async def test_a_message_with_both_ids_names_the_same_person(stack: Stack, first: str) -> None:
    """One person, one conversation, whichever id a message uses."""
    by_phone = stack.user(PHONE, "Rina")
    by_username = stack.user(BSUID, "Rina")
    with_both = stack.user(PHONE, "Rina", bsuid=BSUID)
    opener = {"phone": by_phone, "username": by_username, "both": with_both}[first]
    await opener.says("/mulai")
    await with_both.says("Rina Marlina")  # both ids: from here on they name one identity
    answer = await by_username.says(NIP)
    assert ID("registration.ask_opd") in read(answer)
    answer = await by_phone.says("kesehatan")
    assert "Dinkes" in read(answer)
    [identity] = await identities(stack)
    assert identity.external_id == (BSUID if first == "username" else PHONE)
    for address in (PHONE, BSUID):
        assert await canonical_address(stack.core.database, "whatsapp", [address]) == (
            identity.external_id
        )
    async with stack.core.database.sessions() as session:
        [alias] = list(await session.scalars(select(IdentityAlias)))
    assert alias.identity_id == identity.id


async def test_a_status_for_a_bsuid_recipient_is_recorded_against_its_message(
    stack: Stack,
) -> None:
    user = stack.user(BSUID, "Rina")
    await user.says("/mulai")
    wamid = stack.fake.message_ids[-1]
    await user.send(
        "status_delivered_username",
        WHATSAPP_MESSAGE_ID=wamid,
        CONVERSATION_ID="c1",
        CONVERSATION_EXPIRATION_TIMESTAMP="1767312000",
    )
    async with stack.core.database.sessions() as session:
        status = await session.scalar(select(MessageStatus).where(MessageStatus.wamid == wamid))
        sent = await session.scalar(select(OutgoingMessage).where(OutgoingMessage.wamid == wamid))
    assert status is not None and status.recipient == BSUID and status.status == "delivered"
    assert sent is not None and sent.recipient == BSUID and sent.last_status == "delivered"


async def test_a_username_user_links_telegram_by_the_one_time_code(stack: Stack) -> None:
    telegram = ChatDriver(stack.core, channel="telegram")
    await telegram.register("777001", nip=NIP)
    user = stack.user(BSUID, "Rina")
    await user.says("/mulai")
    await user.says("Rina Marlina")
    answer = await user.says(NIP)  # the duplicate NIP check: a code goes to Telegram
    assert ID("link.code_sent", channels=ID("channel.telegram")) in read(answer)
    done = await user.says(stack.telegram.code())
    assert "Rina Marlina" in read(done)
    assert len({i.user_id for i in await identities(stack)}) == 1


async def test_a_code_for_a_username_user_goes_in_recipient_inside_and_outside_the_window(
    stack: Stack,
) -> None:
    from datetime import timedelta

    user = stack.user(BSUID, "Rina")
    await register(user)
    stack.offset[0] = timedelta(hours=25)
    telegram = ChatDriver(stack.core, channel="telegram")
    await telegram.say("777001", "/mulai")
    await telegram.say("777001", "Rina Marlina")
    await telegram.say("777001", NIP)
    [message] = user.new_messages()
    assert message["type"] == "template" and message["recipient"] == BSUID
    assert "to" not in message
    code = message["template"]["components"][0]["parameters"][0]["text"]
    assert re.fullmatch(r"\d{6}", code)


def test_a_contact_list_keyed_both_ways_names_each_sender() -> None:
    from bot.channels.whatsapp_webhook import parse_message, units_from_payload

    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "1"},
        "contacts": [
            {"profile": {"name": "Siti"}, "wa_id": "6281111111111"},
            {"profile": {"username": "@budi"}, "user_id": "ID.777"},
            {"profile": {"name": "Ani", "username": "@ani"}, "wa_id": "6283333", "user_id": "ID.9"},
        ],
        "messages": [
            {"from": "6281111111111", "id": "wamid.1", "type": "text", "text": {"body": "a"}},
            {"from_user_id": "ID.777", "id": "wamid.2", "type": "text", "text": {"body": "b"}},
            {"from_user_id": "ID.9", "id": "wamid.3", "type": "text", "text": {"body": "c"}},
        ],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "x", "changes": [{"field": "messages", "value": value}]}],
    }
    parsed = [parse_message(u.payload) for u in units_from_payload(payload, "1")]
    assert [(p.sender, p.sender_name, p.phone, p.bsuid) for p in parsed] == [
        ("6281111111111", "Siti", "6281111111111", None),
        ("ID.777", "@budi", None, "ID.777"),
        ("ID.9", "Ani", None, "ID.9"),
    ]
