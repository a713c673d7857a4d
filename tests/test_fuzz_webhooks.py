# ruff: noqa: F811  (the rig fixtures are imported from the channel tests and used by name)
"""The webhook parsers and handlers under generated input (issue 18): valid payloads,
mutated valid ones, random JSON and random bytes, all properly signed. Never an exception
out of a parser or a handler, never a 5xx.

``SASI_FUZZ_STEPS`` scales the number of bodies posted (a tenth of it, at least 200).
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from bot.channels.whatsapp_webhook import parse_message, parse_status, sign, units_from_payload
from tests.fakes.graph_api import DATA_DIR, load_payload
from tests.fakes.telegram_api import TelegramRig
from tests.fakes.telegram_api import telegram_rig as open_telegram_rig
from tests.test_telegram_channel import StubCores, cores, mode  # noqa: F401
from tests.test_whatsapp_channel import Rig, graph_api, rig  # noqa: F401

SEED = int(os.environ.get("SASI_FUZZ_SEED", "20261202"))
BODIES = max(200, int(os.environ.get("SASI_FUZZ_STEPS", "2000")) // 10)
PHONE_NUMBER_ID = "106540352242922"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
KEYS = ["object", "entry", "changes", "value", "field", "metadata", "phone_number_id", "contacts",
        "messages", "statuses", "from", "from_user_id", "id", "type", "text", "body", "interactive",
        "button_reply", "list_reply", "image", "document", "errors", "profile", "wa_id", "user_id",
        "status", "recipient_id", "timestamp", "caption", "mime_type"]  # fmt: skip


def recorded_payloads() -> list[dict[str, Any]]:
    values = {
        "BUSINESS_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_USER_ID": "6281234567890",
        "WHATSAPP_USER_PHONE_NUMBER": "6281234567890",
        "WHATSAPP_BSUID": "ID.1502576394655843",
        "WHATSAPP_MESSAGE_ID": "wamid.FUZZ1",
        "MEDIA_ID": "123",
    }
    payloads = []
    for path in sorted(DATA_DIR.glob("*.json")):
        import re

        names = set(re.findall(r"<([A-Z0-9_]+)>", path.read_text(encoding="utf-8")))
        payloads.append(load_payload(path.stem, **{n: values.get(n, "x") for n in names}))
    return payloads


PAYLOADS = recorded_payloads()


def mutate(payload: Any, rng: random.Random, value: Any) -> Any:
    """Replace, drop or add one field somewhere in the payload."""
    payload = copy.deepcopy(payload)
    nodes: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict | list):
            nodes.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(payload)
    node = rng.choice(nodes)
    if isinstance(node, dict):
        key = rng.choice([*node, rng.choice(KEYS)]) if node else rng.choice(KEYS)
        if rng.random() < 0.2 and key in node:
            del node[key]
        else:
            node[key] = value
    elif node:
        node[rng.randrange(len(node))] = value
    else:
        node.append(value)
    return payload


def check_parse(payload: Any) -> None:
    for unit in units_from_payload(payload, PHONE_NUMBER_ID):
        if unit.problem is not None:
            continue
        if unit.payload["kind"] == "message":
            parse_message(unit.payload)  # a unit without a problem always reads
        else:
            parse_status(unit.payload)


@seed(SEED)
@settings(max_examples=BODIES * 2, deadline=None, database=None)
@given(st.sampled_from(PAYLOADS), st.randoms(use_true_random=False), json_values)
def test_the_whatsapp_parser_reads_or_rejects_every_mutated_payload(
    payload: dict[str, Any], rng: random.Random, value: Any
) -> None:
    for _ in range(3):
        payload = mutate(payload, rng, value)
        check_parse(payload)


@seed(SEED)
@settings(max_examples=BODIES, deadline=None, database=None)
@given(json_values)
def test_the_whatsapp_parser_reads_or_rejects_random_json(value: Any) -> None:
    check_parse(value)
    check_parse({"object": "whatsapp_business_account", "entry": value})


def bodies(rng: random.Random, count: int) -> list[bytes]:
    """Valid, mutated valid, random JSON and random bytes, in a fixed order for the seed."""
    out: list[bytes] = []
    atoms: list[Any] = [
        None,
        True,
        0,
        -1,
        10**30,
        1.5,
        "",
        "x",
        "../../etc/passwd",
        [],
        {},
        ["62811"],
    ]
    for number in range(count):
        kind = number % 4
        if kind == 0:
            out.append(json.dumps(rng.choice(PAYLOADS)).encode())
        elif kind == 1:
            payload = rng.choice(PAYLOADS)
            for _ in range(rng.randint(1, 4)):
                payload = mutate(payload, rng, rng.choice(atoms))
            out.append(json.dumps(payload).encode())
        elif kind == 2:
            out.append(json.dumps(rng.choice([*atoms, {"entry": atoms}])).encode())
        else:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))))
    return out


async def test_the_whatsapp_webhook_never_answers_5xx(rig: Rig) -> None:
    rng = random.Random(SEED)
    statuses: set[int] = set()
    for body in bodies(rng, BODIES):
        headers = {"X-Hub-Signature-256": sign(rig.poster.secret, body)}
        async with rig.http.post(rig.url, data=body, headers=headers) as response:
            statuses.add(response.status)
    await rig.channel.idle()
    assert statuses <= {200, 400}, statuses
    rig.fake.violations.clear()  # mutated media ids are refused by the fake, as by Meta


@pytest.fixture
async def telegram_rig(tmp_path: Path, mode: str, cores: StubCores) -> AsyncIterator[TelegramRig]:
    async with open_telegram_rig(tmp_path, mode, cores) as opened:
        yield opened


@pytest.mark.parametrize("mode", ["webhook"])
async def test_the_telegram_webhook_never_answers_5xx(
    telegram_rig: TelegramRig, cores: StubCores
) -> None:
    import aiohttp

    rng = random.Random(SEED)
    user = telegram_rig.fake.user(515)
    valid = {"update_id": 1, **telegram_rig.fake.message_update(user, "halo")}
    statuses: set[int] = set()
    headers = {
        "X-Telegram-Bot-Api-Secret-Token": str(telegram_rig.settings.telegram_webhook_secret)
    }
    async with aiohttp.ClientSession() as session:
        for number, body in enumerate(bodies(rng, BODIES)):
            if number % 4 < 2:  # Telegram's own shapes instead of Meta's
                update = mutate(valid, rng, rng.choice([None, 0, "x", [], {}, -5, 2**70]))
                if isinstance(update, dict) and number % 8 == 0:
                    update["update_id"] = 10_000 + number
                body = json.dumps(update).encode()
            async with session.post(
                telegram_rig.webhook_url, data=body, headers=headers
            ) as response:
                statuses.add(response.status)
    await telegram_rig.channel.idle()
    assert statuses <= {200, 400}, statuses
    # A mutated update may name a chat Telegram does not have (an id past 2**63): the answer
    # to it is refused by the fake as by Telegram, and logged; that is the right outcome.
    telegram_rig.fake.errors[:] = [e for e in telegram_rig.fake.errors if "chat not found" not in e]


@pytest.mark.parametrize("mode", ["webhook"])
async def test_a_telegram_body_over_the_limit_is_refused_before_it_is_read(
    telegram_rig: TelegramRig, cores: StubCores
) -> None:
    import aiohttp

    from bot.channels.telegram import MAX_WEBHOOK_BYTES

    headers = {
        "X-Telegram-Bot-Api-Secret-Token": str(telegram_rig.settings.telegram_webhook_secret)
    }
    body = b'{"update_id": 7, "x": "' + b"a" * MAX_WEBHOOK_BYTES + b'"}'
    async with (
        aiohttp.ClientSession() as session,
        session.post(telegram_rig.webhook_url, data=body, headers=headers) as response,
    ):
        assert response.status == 413
    assert await telegram_rig.core.inbound.unprocessed("telegram") == []
    assert await telegram_rig.core.inbound.set_aside_count("telegram") == 0
