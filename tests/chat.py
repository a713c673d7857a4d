"""A test driver that talks to the engine as a channel would, one person at a time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.app import Core
from handlers.i18n import Translator
from handlers.messages import Attachment, Choice, Incoming, Outcome, Reply

ID = Translator("id")
EN = Translator("en")


@dataclass
class ChatDriver:
    core: Core
    channel: str = "terminal"
    last: dict[str, list[Reply]] = field(default_factory=dict)
    _updates: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def send(self, person: str, incoming: Incoming) -> list[Reply]:
        outcome: Outcome = await self.core.handle(incoming)
        # As a channel does once it has shown them: the replies' outbox row is done.
        await self.core.replies_sent(outcome, incoming.channel, incoming.sender_id)
        # The core batches sent-marks for 50 ms; a test that restarts next must not find
        # the reply unmarked (a new process would resend it) because the machine was busy.
        await self.core.flush_sent()
        self.last[person] = outcome.replies
        return outcome.replies

    async def say(self, person: str, text: str | None, **extra: object) -> list[Reply]:
        return await self.send(
            person,
            Incoming(channel=self.channel, sender_id=person, text=text, **extra),  # type: ignore[arg-type]
        )

    async def press(self, person: str, payload: str) -> list[Reply]:
        return await self.send(
            person, Incoming(channel=self.channel, sender_id=person, choice=payload)
        )

    async def attach(self, person: str, attachment: Attachment) -> list[Reply]:
        return await self.send(
            person,
            Incoming(channel=self.channel, sender_id=person, attachments=(attachment,)),
        )

    def choices(self, person: str) -> list[Choice]:
        """The choices of the last reply that had any."""
        for reply in reversed(self.last.get(person, [])):
            if reply.choices:
                return list(reply.choices)
        return []

    def payload(self, person: str, title_part: str) -> str:
        """The payload of the last offered choice whose title or label contains ``title_part``."""
        for choice in self.choices(person):
            if title_part in choice.title or title_part in (choice.label or ""):
                return choice.payload
        raise AssertionError(f"no choice like {title_part!r} in {self.choices(person)}")

    def text(self, person: str) -> str:
        return "\n".join(r.text for r in self.last.get(person, []))

    async def pick(self, person: str, title_part: str) -> list[Reply]:
        return await self.press(person, self.payload(person, title_part))

    async def register(
        self,
        person: str,
        name: str = "Rina Marlina",
        nip: str = "199107082019032012",
        opd_query: str = "kesehatan",
        opd_title: str = "Dinkes",
        position: str = "Pranata Komputer",
    ) -> None:
        await self.say(person, "/mulai")
        await self.say(person, name)
        await self.say(person, nip)
        await self.say(person, opd_query)
        await self.pick(person, opd_title)
        await self.say(person, position)
        assert ID("registration.done", name=name) in self.text(person), self.text(person)

    async def submit_idea(
        self,
        person: str,
        name: str,
        problem: str,
        idea: str,
        on_duplicate: str | None = None,
    ) -> list[Reply]:
        """Go through the whole intake, saving at the end. ``on_duplicate`` answers the warning."""
        await self.say(person, "/ide")
        await self.say(person, name)
        await self.say(person, problem)
        await self.say(person, idea)
        if on_duplicate is not None:
            assert ID("dup.question") in self.text(person), self.text(person)
            await self.press(person, on_duplicate)
        await self.say(person, "Meningkatkan cakupan layanan bagi warga.")
        await self.say(person, "Warga terlayani lebih cepat dan murah.")
        await self.say(person, "Warga lanjut usia")
        await self.press(person, "digital:no")
        await self.press(person, "form:pelayanan_publik")
        await self.say(person, "kesehatan")
        await self.press(person, "initiator:asn")
        await self.press(person, "opd:own")
        await self.say(person, "50 juta")
        await self.press(person, "attach:done")
        assert ID("intake.summary_title") in self.text(person), self.text(person)
        return await self.press(person, "summary:save")
