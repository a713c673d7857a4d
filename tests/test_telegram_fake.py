"""The fake Bot API itself: it must behave like Telegram where the bot depends on it, and fail
loudly where the bot would be wrong."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

os.environ.setdefault("PTB_TIMEDELTA", "true")  # as bot/channels/telegram.py does

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter

from tests.fakes.telegram_api import FakeTelegramApi


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        yield fake


@pytest.fixture
async def bot(fake: FakeTelegramApi) -> AsyncIterator[Bot]:
    async with Bot(
        fake.token,
        base_url=f"{fake.base_url}/bot",
        base_file_url=f"{fake.base_url}/file/bot",
    ) as bot:
        yield bot


async def raw(fake: FakeTelegramApi, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}/bot{fake.token}/{method}", json=params) as response,
    ):
        return response.status, await response.json()


async def test_get_me_and_a_recorded_send(fake: FakeTelegramApi, bot: Bot) -> None:
    user = fake.user(1, "Budi")
    assert bot.username == "sasi_test_bot"
    message = await bot.send_message(user.id, "Halo <b>", reply_markup=None)
    assert message.text == "Halo <b>"
    assert message.chat.id == 1
    [call] = fake.calls_of("sendMessage")
    assert call.params == {"chat_id": 1, "text": "Halo <b>"}


async def test_an_unimplemented_method_fails_loudly(fake: FakeTelegramApi) -> None:
    status, body = await raw(fake, "sendVenue", chat_id=1)
    assert status == 400
    assert body["ok"] is False
    assert fake.errors and "sendVenue" in fake.errors[0]


async def test_a_wrong_token_is_not_found(fake: FakeTelegramApi) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}/bot999:wrong/getMe") as response,
    ):
        assert response.status == 404
    assert fake.calls == []


async def test_limits_are_enforced_and_recorded(fake: FakeTelegramApi, bot: Bot) -> None:
    user = fake.user(2)
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(user.id, "x" * 4097)
    # Telegram counts UTF-16 units: 2,049 emoji are 4,098 units.
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await bot.send_message(user.id, "😀" * 2049)
    long_data = InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(user.id, "ok", reply_markup=long_data)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(424242, "siapa?")
    assert len(fake.errors) == 4
    await bot.send_message(user.id, "x" * 4096)
    assert len(fake.errors) == 4


async def test_get_updates_long_polls_and_honours_offset(fake: FakeTelegramApi, bot: Bot) -> None:
    user = fake.user(3)
    first = fake.send_text(user, "satu")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first]
    # Without a newer offset the same update comes again: it was not confirmed.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first]

    async def later() -> None:
        await asyncio.sleep(0.05)
        fake.send_text(user, "dua")

    task = asyncio.create_task(later())
    updates = await bot.get_updates(offset=first + 1, timeout=5)
    await task
    assert [u.message.text for u in updates if u.message] == ["dua"]
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()


async def test_get_updates_conflicts_with_a_webhook(fake: FakeTelegramApi, bot: Bot) -> None:
    await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="abc")
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


async def test_scripted_flood_control_and_forbidden(fake: FakeTelegramApi, bot: Bot) -> None:
    user = fake.user(4)
    fake.fail_next("sendMessage", 2, retry_after=7)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(user.id, "halo")
        assert caught.value.retry_after.total_seconds() == 7  # type: ignore[union-attr]
    await bot.send_message(user.id, "halo")
    fake.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden):
        await bot.send_message(user.id, "halo")
    assert fake.errors == []  # scripted failures are not bot bugs


async def test_blocking_injects_a_member_update_and_refuses_sends(
    fake: FakeTelegramApi, bot: Bot
) -> None:
    user = fake.user(5)
    fake.block(user)
    [update] = await bot.get_updates(timeout=0)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden):
        await bot.send_message(user.id, "halo")


async def test_files_are_served_and_uploads_recorded(
    fake: FakeTelegramApi, bot: Bot, tmp_path: Any
) -> None:
    user = fake.user(6)
    fake.send_document(user, b"%PDF sk", file_name="sk.pdf")
    big = fake.add_file(b"x", declared_size=21 * 1024 * 1024)
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.document is not None
    remote = await update.message.document.get_file()
    target = tmp_path / "sk.pdf"
    await remote.download_to_drive(target)
    assert target.read_bytes() == b"%PDF sk"
    with pytest.raises(BadRequest, match=r"(?i)too big"):
        await bot.get_file(big.file_id)

    photo = tmp_path / "foto.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")
    sent = await bot.send_photo(user.id, photo.read_bytes(), caption="Foto", filename="foto.jpg")
    assert sent.caption == "Foto"
    [upload] = fake.calls_of("sendPhoto")
    assert upload.files["photo"] == ("foto.jpg", b"\xff\xd8jpeg")
    assert upload.params["caption"] == "Foto"


async def test_button_presses_follow_the_messages_keyboard(fake: FakeTelegramApi, bot: Bot) -> None:
    user = fake.user(7)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ya", callback_data="yes")]])
    sent = await bot.send_message(user.id, "Lanjut?", reply_markup=markup)
    message = fake.last_to(user.id)
    with pytest.raises(AssertionError):
        fake.press(user, message, "no")  # not on the message
    fake.press(user, message, "yes")
    [update] = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None and query.data == "yes"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer()
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer()

    await bot.edit_message_reply_markup(user.id, sent.message_id, reply_markup=None)
    assert message.buttons == []
    with pytest.raises(AssertionError):
        fake.press(user, message, "yes")  # the button is gone from the client too


async def test_webhook_delivery_carries_the_secret(fake: FakeTelegramApi, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        user = fake.user(8)
        pending = fake.send_text(user, "sebelum webhook")
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="rahasia_1")
        later = fake.send_text(user, "sesudah")
        await fake.wait_for(lambda: len(fake.webhook_deliveries) == 2)
    finally:
        await runner.cleanup()
    assert fake.webhook_deliveries == [(pending, 200), (later, 200)]
    assert [secret for secret, _ in received] == ["rahasia_1", "rahasia_1"]
    assert received[1][1]["message"]["text"] == "sesudah"
