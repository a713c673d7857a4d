"""The Graph API fake enforces the documented limits, so rendering tests can trust it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fakes.graph_api import DATA_DIR, FakeGraphApi, load_payload, validate_message


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraphApi]:
    api = FakeGraphApi()
    await api.start()
    yield api
    await api.close()


def _buttons(count: int, title: str = "Ya") -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": "6281234567890",
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Lanjut?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"b{i}", "title": f"{title}{i}"}}
                    for i in range(count)
                ]
            },
        },
    }


def _list(rows: int, title: str = "OPD") -> dict:
    return {
        "messaging_product": "whatsapp",
        "to": "6281234567890",
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Pilih OPD"},
            "action": {
                "button": "Pilih",
                "sections": [
                    {"rows": [{"id": f"r{i}", "title": f"{title} {i}"} for i in range(rows)]}
                ],
            },
        },
    }


def test_a_fourth_button_is_a_violation() -> None:
    assert validate_message(_buttons(3), set(), {}) == []
    assert any("4 buttons" in p for p in validate_message(_buttons(4), set(), {}))


def test_a_25_character_row_title_is_a_violation() -> None:
    assert validate_message(_list(10), set(), {}) == []
    problems = validate_message(_list(1, title="x" * 23), set(), {})
    assert any("row title is 25 characters" in p for p in problems)
    assert any("11 rows" in p for p in validate_message(_list(11), set(), {}))


def test_text_over_4096_characters_is_a_violation() -> None:
    body = {"messaging_product": "whatsapp", "to": "62811", "type": "text"}
    assert validate_message({**body, "text": {"body": "a" * 4096}}, set(), {}) == []
    assert validate_message({**body, "text": {"body": "a" * 4097}}, set(), {})


def test_templates_must_exist_with_the_right_parameters() -> None:
    body = {
        "messaging_product": "whatsapp",
        "to": "62811",
        "type": "template",
        "template": {
            "name": "sasi_siaran",
            "language": {"code": "id"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "a\nb"}]}],
        },
    }
    assert any("does not exist" in p for p in validate_message(body, set(), {}))
    problems = validate_message(body, set(), {"sasi_siaran": ("id", 2)})
    assert any("takes 2 parameters" in p for p in problems)
    assert any("new lines" in p for p in problems)


async def test_the_fake_answers_like_meta_and_records_violations(fake: FakeGraphApi) -> None:
    headers = {"Authorization": f"Bearer {fake.token}"}
    url = f"{fake.base_url}/{fake.phone_number_id}/messages"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=_buttons(2), headers=headers) as response:
            answer = await response.json()
            assert response.status == 200
            assert answer["messages"][0]["id"].startswith("wamid.")
        async with http.post(url, json=_buttons(4), headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == 100
        async with http.post(url, json=_buttons(1)) as response:
            assert response.status == 401
        fake.fail_next(1, "130429")
        async with http.post(url, json=_buttons(1), headers=headers) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == 130429
    assert len(fake.messages) == 1
    assert len(fake.violations) == 2
    fake.violations.clear()


async def test_media_needs_the_bearer_token(fake: FakeGraphApi) -> None:
    media_id = fake.add_media(b"%PDF-1.4 eviden", "application/pdf")
    headers = {"Authorization": f"Bearer {fake.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake.base_url}/{media_id}", headers=headers) as response:
            info = await response.json()
        assert info["file_size"] == len(b"%PDF-1.4 eviden")
        async with http.get(info["url"]) as response:
            assert response.status == 401
        async with http.get(info["url"], headers=headers) as response:
            assert await response.read() == b"%PDF-1.4 eviden"
    assert fake.violations == ["media download without the bearer token"]
    fake.violations.clear()


def test_every_recorded_payload_has_meta_s_envelope() -> None:
    names = [
        "text", "interactive_button_reply", "interactive_list_reply", "image", "document",
        "sticker", "location", "reaction", "audio", "contacts",
        "status_sent", "status_delivered", "status_read", "status_failed",
    ]  # fmt: skip
    texts = "".join((DATA_DIR / f"{name}.json").read_text() for name in names)
    values = {key: "1" for key in re.findall(r"<([A-Z0-9_]+)>", texts)}
    for name in names:
        payload = load_payload(name, **values)
        assert payload["object"] == "whatsapp_business_account"
        value = payload["entry"][0]["changes"][0]["value"]
        assert payload["entry"][0]["changes"][0]["field"] == "messages"
        assert value["messaging_product"] == "whatsapp"
        assert set(value["metadata"]) == {"display_phone_number", "phone_number_id"}
        assert ("messages" in value) != ("statuses" in value)
        if "messages" in value:
            assert value["contacts"][0]["wa_id"] == "1"
            assert name.startswith(value["messages"][0]["type"])
