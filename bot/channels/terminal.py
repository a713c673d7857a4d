"""The terminal chat: a person at a keyboard, or a script piped in, talks to the core.

One line is one message. Choices print as numbered lines and are answered by typing the
number. ``/as NAME`` switches to another person, so one terminal can play several ASN;
``/lampir PATH`` sends a local file as an attachment; lines starting with ``#`` are comments.
"""

from __future__ import annotations

import asyncio
import mimetypes
import shutil
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from bot.outbox.limits import UNLIMITED
from handlers.i18n import Translator
from handlers.messages import Attachment, AttachmentKind, Incoming, Outcome, Reply, TemplateCall

CHANNEL = "terminal"
DEFAULT_PERSON = "asn"

Handle = Callable[[Incoming], Awaitable[Outcome]]
Sent = Callable[[Outcome, str, str], Awaitable[None]]


class TerminalChannel:
    """Reads lines from ``stdin`` (a keyboard or a pipe) and prints the core's replies."""

    name = CHANNEL
    limits = UNLIMITED

    def __init__(
        self,
        handle: Handle,
        attachments_dir: Path,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        person: str = DEFAULT_PERSON,
        banner: str = "",
        t: Translator | None = None,
        sent: Sent | None = None,
    ) -> None:
        self._handle = handle
        self._sent = sent  # told once the replies are shown (the outbox row is done)
        self._attachments_dir = attachments_dir
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stdout
        self.person = person
        self._interactive = self._in.isatty()
        self._banner = banner
        self._t = t or Translator(None)

    def add_routes(self, app: object) -> None:
        """The terminal serves no webhooks."""

    async def start(self) -> None:
        """Nothing to start: :meth:`run` drives the conversation."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def send(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        """Messages for another terminal person are shown with their name."""
        for reply in replies:
            self._print(self._t("terminal.message_for", person=external_id))
            self._render(reply)

    async def deliver(
        self, recipient: str, replies: Sequence[Reply], *, template: TemplateCall | None
    ) -> None:
        """The outbox's send: printed for whoever is at this terminal."""
        await self.send(recipient, replies, template=template)

    async def run(self) -> None:
        """Converse until end of input (Ctrl-D, or the end of a piped script)."""
        if self._banner:
            self._print(self._banner)
        while True:
            if self._interactive:
                self._out.write(f"[{self.person}] > ")
                self._out.flush()
            line = await asyncio.to_thread(self._in.readline)
            if not line:
                break
            await self.feed(line.rstrip("\n"))

    async def feed(self, line: str) -> None:
        """Handle one typed line."""
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return  # a blank line is no message (no chat app can send one)
        if not self._interactive:
            self._print(f"[{self.person}] > {line}")
        if stripped.startswith("/as"):
            name = stripped[3:].strip()
            if name:
                self.person = name
                self._print(self._t("terminal.switched", person=name))
                return
        incoming = self._incoming(stripped)
        if incoming is None:
            return
        outcome = await self._handle(incoming)
        for reply in outcome.replies:
            self._render(reply)
        if self._sent is not None:
            await self._sent(outcome, CHANNEL, self.person)

    def _incoming(self, line: str) -> Incoming | None:
        """The message a line makes; None when the terminal itself answered (no such file)."""
        if line.startswith("/lampir"):
            typed = line[len("/lampir") :].strip()
            path = Path(typed).expanduser()
            if not typed or not path.is_file():
                # The terminal's own command: the core never saw it, so it cannot explain.
                self._print(self._t("terminal.file_not_found", path=typed))
                return None
            return Incoming(
                channel=CHANNEL,
                sender_id=self.person,
                sender_name=self.person,
                attachments=(self._keep(path),),
            )
        return Incoming(channel=CHANNEL, sender_id=self.person, sender_name=self.person, text=line)

    def _keep(self, path: Path) -> Attachment:
        """Copy the file into SASI's attachment folder, as the other channels download theirs."""
        target_dir = self._attachments_dir / CHANNEL / self.person
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / path.name
        shutil.copyfile(path, target)
        mime, _ = mimetypes.guess_type(path.name)
        kind: AttachmentKind = "photo" if (mime or "").startswith("image/") else "document"
        return Attachment(
            kind=kind, path=target, file_name=path.name, mime_type=mime, size=target.stat().st_size
        )

    def _render(self, reply: Reply) -> None:
        self._print("SASI: " + reply.text.replace("\n", "\n      "))
        for number, choice in enumerate(reply.choices, start=1):
            self._print(f"      {number}. {choice.label or choice.title}")
        if reply.file is not None:
            self._print(self._t("terminal.file", path=str(reply.file.path)))

    def _print(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()
