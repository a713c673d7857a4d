"""One person, two channels: linking a second identity with a one-time code."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from bot.app import Core
from handlers.messages import Reply, TemplateCall
from storage.models import Identity
from tests.chat import ID, ChatDriver

NIP = "199107082019032012"


@dataclass
class Inbox:
    """Stands in for a channel's send: what the core delivered to other identities."""

    sent: list[tuple[str, tuple[Reply, ...], TemplateCall | None]] = field(default_factory=list)

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        self.sent.append((external_id, tuple(replies), template))

    def last_code(self) -> str:
        text = self.sent[-1][1][0].text
        [code] = re.findall(r"\b\d{6}\b", text)
        return code


async def _registered_on_telegram(core: Core) -> tuple[ChatDriver, ChatDriver, Inbox]:
    inbox = Inbox()
    core.register_sender("telegram", inbox)
    telegram = ChatDriver(core, channel="telegram")
    await telegram.register("100", "Rina Marlina", NIP)
    whatsapp = ChatDriver(core, channel="whatsapp")
    return telegram, whatsapp, inbox


async def _ask_to_link(whatsapp: ChatDriver) -> list[Reply]:
    await whatsapp.say("628111", "/mulai")
    await whatsapp.say("628111", "Rina M.")
    return await whatsapp.say("628111", NIP)


async def test_the_right_code_links_the_identities(demo_core: Core) -> None:
    telegram, whatsapp, inbox = await _registered_on_telegram(demo_core)
    replies = await _ask_to_link(whatsapp)
    assert replies[0].text == ID("link.code_sent", channels="Telegram")
    [(to, _, template)] = inbox.sent
    assert to == "100"
    code = inbox.last_code()
    # Where free text is not allowed (WhatsApp after 24 hours), the same code goes as a template.
    assert template == TemplateCall("link_code", (code,))
    replies = await whatsapp.say("628111", code)
    assert replies[0].text == ID("link.done", name="Rina Marlina")
    async with demo_core.database.sessions() as session:
        owners = {i.channel: i.user_id for i in await session.scalars(select(Identity))}
    assert owners["whatsapp"] == owners["telegram"]
    # Ideas and conversations are the person's: /ideku on WhatsApp is Rina's.
    await telegram.submit_idea("100", "SI-A", "Masalah yang cukup panjang.", "Gagasan yang jelas.")
    replies = await whatsapp.say("628111", "/ideku")
    assert "SI-A" in replies[-1].text


async def test_three_wrong_codes_end_the_attempt(demo_core: Core) -> None:
    _, whatsapp, inbox = await _registered_on_telegram(demo_core)
    await _ask_to_link(whatsapp)
    code = inbox.last_code()
    wrong = "000000" if code != "000000" else "111111"
    assert (await whatsapp.say("628111", wrong))[0].text == ID("link.wrong_code", left=2)
    assert (await whatsapp.say("628111", wrong))[0].text == ID("link.wrong_code", left=1)
    assert (await whatsapp.say("628111", wrong))[0].text == ID("link.failed")
    # The attempt is over: the right code now is just text, not a link.
    await whatsapp.say("628111", code)
    async with demo_core.database.sessions() as session:
        identities = list(await session.scalars(select(Identity)))
    assert len({i.user_id for i in identities}) == 2


async def test_starting_over_cannot_reset_the_limits(demo_core: Core) -> None:
    _, whatsapp, inbox = await _registered_on_telegram(demo_core)
    for _round in range(3):
        replies = await _ask_to_link(whatsapp)
        assert replies[0].text == ID("link.code_sent", channels="Telegram")
        await whatsapp.say("628111", "/batal")
    replies = await _ask_to_link(whatsapp)
    assert replies[0].text == ID("link.too_many")
    assert len(inbox.sent) == 3  # the owner is not flooded with codes


async def test_wrong_guesses_from_new_attempts_add_up(demo_core: Core) -> None:
    _, whatsapp, inbox = await _registered_on_telegram(demo_core)
    for _round in range(2):
        await _ask_to_link(whatsapp)
        code = inbox.last_code()
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(3):
            await whatsapp.say("628111", wrong)
    # Six wrong guesses today: no more codes, whoever asks.
    replies = await _ask_to_link(whatsapp)
    assert replies[0].text == ID("link.too_many")


async def test_a_code_that_cannot_be_delivered_is_reported_not_dropped(demo_core: Core) -> None:
    _, whatsapp, _inbox = await _registered_on_telegram(demo_core)

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("Telegram is down")

    demo_core.register_sender("telegram", broken)
    replies = await _ask_to_link(whatsapp)
    assert replies[-1].text == ID("delivery.failed", channel="Telegram")
