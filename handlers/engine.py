"""The engine: one incoming message in, replies out, state and data saved in one transaction.

For each message the engine resolves the person behind the channel identity, takes that
person's lock, then loads their conversation state (lock, then load), runs the step, saves the
state with whatever the step wrote, commits, and only then returns the replies to send.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.access import ELEVATED, Access, is_allowed, load_roles
from handlers.choices import choice as make_choice
from handlers.commands import Command, CommandTable, parse_command
from handlers.context import StepContext
from handlers.flow import OFFERED_BELOW, Answer, FlowRegistry, Frame, Transition
from handlers.i18n import Translator
from handlers.messages import MAX_CHOICES, Choice, Incoming, Outcome, Reply, outbox_payload
from handlers.ports import SimilarityService
from handlers.text import MAX_MESSAGE_CHARS, clean_text, is_small_number
from storage.conversation_state import StoredState, load_person, save_state
from storage.db import Database
from storage.inbound import InboundStore, claim_update
from storage.models import Identity, InboundUpdate, User, utcnow
from storage.outbox import NewMessage, add_messages, add_reply, notify_sender
from storage.queries import identity_of

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
system_clock: Clock = utcnow

CANCEL_COMMANDS = ("batal", "cancel")
OWNER_CACHE_SIZE = 100_000
# last_inbound_at only feeds WhatsApp's 24-hour window: a minute's precision saves a write
# on almost every message.
INBOUND_STAMP_RESOLUTION = timedelta(minutes=1)
MAX_FALLTHROUGH = 4  # frames an answer may fall through before it is treated as idle chat
# After this long away, the pending question has scrolled out of sight (or out of mind):
# show it again before taking a message as its answer.
RESUME_AFTER = timedelta(hours=3)
MIN_PARTIAL_CHOICE = 3  # typed characters before part of a choice's words can name it


def _name_key(text: str) -> str:
    return " ".join(text.casefold().split())


def _partial_choice(names: dict[str, str], typed: str) -> str | None:
    """The one offered payload whose words contain ``typed`` from a word start ("berbeda" for
    "Ide saya berbeda"); None when nothing or more than one choice matches."""
    if len(typed) < MIN_PARTIAL_CHOICE or not any(ch.isalpha() for ch in typed):
        return None
    pattern = re.compile(r"(?<!\w)" + re.escape(typed))
    payloads = {payload for name, payload in names.items() if pattern.search(name)}
    return payloads.pop() if len(payloads) == 1 else None


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass
class _State:
    stored: StoredState
    frames: list[Frame] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # a choice's title, typed → its payload


class Engine:
    """Runs conversations. Channel-agnostic: it sees :class:`Incoming`, answers :class:`Reply`."""

    def __init__(
        self,
        database: Database,
        similarity: SimilarityService,
        default_locale: str = "id",
        timezone: ZoneInfo | None = None,
        clock: Clock = system_clock,
        flows: FlowRegistry | None = None,
        commands: CommandTable | None = None,
        outbox_worker: str | None = None,
        claims_replies: Callable[[str], bool] | None = None,
    ) -> None:
        from handlers.conversations import build_commands, build_flows

        self.database = database
        self.similarity = similarity
        self.default_locale = default_locale
        self.timezone = timezone or ZoneInfo("Asia/Jakarta")
        self.clock = clock
        self.flows = flows or build_flows()
        self.commands = commands or build_commands()
        # Replies are committed as outbox rows claimed by this worker, which sends them
        # right after the commit; None keeps them in memory only (a stand-alone engine).
        self.outbox_worker = outbox_worker
        # Whether this process sends a channel's replies itself; when it does not (another
        # replica holds the channel's sending budget), they are committed unclaimed.
        self.claims_replies: Callable[[str], bool] = claims_replies or (lambda _channel: True)
        self._locks = KeyedLocks()
        self._owners: dict[tuple[str, str], int] = {}
        # A state saved before this moment was saved by an earlier run: its question was
        # asked before the restart, and the person may no longer see it.
        self.started_at = clock()

    # -- the public entry point ---------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> Outcome:
        """Process one message. A redelivered ``update_key`` gives ``Outcome(duplicate=True)``."""
        for _attempt in range(3):
            user_id = await self._resolve_user(incoming)
            async with self._locks.hold(user_id):
                try:
                    outcome = await self._handle_locked(user_id, incoming)
                except Exception:
                    # Nothing was committed, and the person is asked to send it again.
                    log.exception("step failed for person %s on %s", user_id, incoming.channel)
                    await self._give_up(incoming)
                    t = Translator(await self._locale_of(user_id))
                    return Outcome(replies=[Reply(t("error.internal"))])
            if outcome is not None:
                return outcome
            # The identity was linked to another person while we waited: use that person.
        raise RuntimeError(f"{incoming.channel}:{incoming.sender_id} keeps changing owner")

    async def _locale_of(self, user_id: int) -> str:
        """The person's language for an error notice; the Pemda's when it cannot be read."""
        try:
            async with self.database.sessions() as session:
                user = await session.get(User, user_id)
                return (user.locale if user is not None else None) or self.default_locale
        except Exception:
            log.exception("could not read the locale of user %s", user_id)
            return self.default_locale

    async def _give_up(self, incoming: Incoming) -> None:
        """Mark a failed update processed: replaying it at the next start, perhaps hours later
        and after the person has moved on, would feed a stale answer into their conversation."""
        if incoming.update_key is None:
            return
        try:
            await InboundStore(self.database).mark_processed(incoming.channel, incoming.update_key)
        except Exception:
            log.exception("could not mark update %s processed", incoming.update_key)

    async def _handle_locked(self, user_id: int, incoming: Incoming) -> Outcome | None:
        """None when the identity no longer belongs to ``user_id`` (linked meanwhile)."""
        async with (
            self.database.writing(),
            self.database.sessions() as session,
            session.begin(),
        ):
            loaded = await load_person(
                session, incoming.channel, incoming.sender_id, lock=not self.database.is_sqlite
            )
            assert loaded is not None  # created by _resolve_user
            identity, user, stored = loaded
            if identity.user_id != user_id:
                self._owners.pop((incoming.channel, incoming.sender_id), None)
                return None
            if incoming.update_key is not None and not await claim_update(
                session, incoming.channel, incoming.update_key
            ):
                return Outcome(duplicate=True)
            now = self.clock()
            last = identity.last_inbound_at
            if last is None or now - last > INBOUND_STAMP_RESOLUTION or last > now:
                identity.last_inbound_at = now
            if identity.blocked_at is not None:
                identity.blocked_at = None  # writing to us again means not blocked
            if incoming.sender_name and not identity.display_name:
                identity.display_name = incoming.sender_name[:200]
            state = self._state(stored)
            ctx = StepContext(
                session=session,
                user=user,
                identity=identity,
                t=Translator(user.locale or self.default_locale),
                similarity=self.similarity,
                timezone=self.timezone,
                now=now,
            )
            replies = await self._converse(ctx, state, incoming)
            if incoming.chat_kind != "group":
                # A group message is not part of the private conversation: leave its
                # questions and buttons exactly as they were.
                await self._save_state(session, user_id, state, replies, now)
            reply_id, delivery_keys, queued = await self._commit_messages(
                session, user_id, incoming, replies, ctx, now
            )
        # Committed, and the writer queue released: now the work that must follow the commit.
        for callback in ctx.after_commit:
            try:
                # Index updates normalise text (CPU work): never on the event loop.
                await asyncio.to_thread(callback)
            except Exception:
                log.exception("after-commit hook failed")
        return Outcome(
            replies=replies,
            deliveries=list(ctx.deliveries),
            reply_id=reply_id,
            delivery_keys=delivery_keys,
            queued=queued,
        )

    async def _commit_messages(
        self,
        session: AsyncSession,
        user_id: int,
        incoming: Incoming,
        replies: list[Reply],
        ctx: StepContext,
        now: datetime,
    ) -> tuple[int | None, tuple[str, ...], bool]:
        """Put the replies and the messages for others in the outbox, in this transaction.

        Then a kill after the commit loses neither: the replies are sent again at the next
        start (at worst twice), the messages for others by the outbox sender.
        """
        # The update key makes a row's key; an update without one (never redelivered) gets
        # a fresh one.
        ref = incoming.update_key or uuid.uuid4().hex
        messages = [
            NewMessage(
                key=f"delivery:{incoming.channel}:{ref}:{n}",
                kind=delivery.kind,
                channel=delivery.channel,
                recipient=delivery.external_id,
                payload=outbox_payload(
                    delivery.replies, delivery.template, sensitive=delivery.sensitive
                )
                | ({"notice": delivery.notice} if delivery.notice is not None else {}),
                due_at=now,
                user_id=delivery.user_id,
                priority=0,
            )
            for n, delivery in enumerate(ctx.deliveries)
        ]
        await add_messages(session, messages)
        keys = tuple(m.key for m in messages)
        if not replies or self.outbox_worker is None:
            return None, keys, False
        reply = NewMessage(
            key=f"reply:{incoming.channel}:{ref}",
            kind="reply",
            channel=incoming.channel,
            recipient=incoming.reply_to or incoming.sender_id,
            payload=outbox_payload(replies),
            due_at=now,
            user_id=user_id,
            priority=0,
        )
        if not self.claims_replies(incoming.channel):
            await add_messages(session, [reply])
            if not self.database.is_sqlite:
                await notify_sender(session, incoming.channel)
            return None, keys, True
        reply_id = await add_reply(session, reply, self.outbox_worker)
        return reply_id, keys, False

    # -- identities and state -------------------------------------------------------------------

    async def _resolve_user(self, incoming: Incoming) -> int:
        """The person behind a channel identity, created on first contact.

        Cached in memory: an identity changes hands only when linked, and the engine re-checks
        the owner inside each transaction (dropping a stale entry), so the cache is only a hint.
        """
        key = (incoming.channel, incoming.sender_id)
        cached = self._owners.get(key)
        if cached is not None:
            return cached
        user_id = await self._resolve_user_from_db(incoming)
        if len(self._owners) >= OWNER_CACHE_SIZE:
            self._owners.clear()  # crude, but bounded; refilled one query per person
        self._owners[key] = user_id
        return user_id

    async def _resolve_user_from_db(self, incoming: Incoming) -> int:
        for _attempt in range(3):
            async with self.database.writing(), self.database.sessions() as session:
                identity = await identity_of(session, incoming.channel, incoming.sender_id)
                if identity is not None:
                    return identity.user_id
                user = User()
                session.add(user)
                await session.flush()
                session.add(
                    Identity(
                        user_id=user.id,
                        channel=incoming.channel,
                        external_id=incoming.sender_id,
                        display_name=(incoming.sender_name or None) and incoming.sender_name[:200],
                    )
                )
                try:
                    await session.commit()
                    return user.id
                except IntegrityError:
                    await session.rollback()  # created concurrently: read it on the next pass
        raise RuntimeError(f"could not resolve {incoming.channel}:{incoming.sender_id}")

    def _state(self, stored: StoredState) -> _State:
        frames = [Frame.from_json(raw) for raw in stored.frames]
        frames = [f for f in frames if self.flows.step(f) is not None]  # flows renamed since
        state = _State(stored=stored, frames=frames)
        for entry in stored.offered:
            # {"payload", "names"}; a bare payload string in rows saved before names were kept.
            payload = str(entry["payload"] if isinstance(entry, dict) else entry)
            state.offered.append(payload)
            for name in entry.get("names", []) if isinstance(entry, dict) else []:
                state.names.setdefault(_name_key(name), payload)
        return state

    async def _save_state(
        self,
        session: AsyncSession,
        user_id: int,
        state: _State,
        replies: list[Reply],
        now: datetime,
    ) -> None:
        choices: tuple[Choice, ...] = ()
        for reply in replies:
            if reply.choices:
                choices = reply.choices
        offered = [
            {"payload": c.payload, "names": sorted({c.title, c.label or c.title})} for c in choices
        ]
        frames = [f.to_json() for f in state.frames]
        await save_state(session, user_id, state.stored, frames, offered, now)
        state.offered = [c.payload for c in choices]

    # -- the conversation -------------------------------------------------------------------

    async def _converse(self, ctx: StepContext, state: _State, incoming: Incoming) -> list[Reply]:
        t = ctx.t
        out: list[Reply] = []
        text = clean_text(incoming.text)

        if incoming.chat_kind == "group":
            return await self._group_message(ctx, text)
        if incoming.unsupported:
            out.append(Reply(t("input.unsupported")))
            return out + await self._reask(ctx, state)
        if incoming.too_large:
            out.append(Reply(t("input.too_large")))
            return out + await self._reask(ctx, state)
        if incoming.failed:
            out.append(Reply(t("input.failed")))
            return out + await self._reask(ctx, state)
        if text is not None and len(text) > MAX_MESSAGE_CHARS:
            out.append(Reply(t("input.too_long", limit=t.number(MAX_MESSAGE_CHARS))))
            return out + await self._reask(ctx, state)

        choice: str | None = None
        plain = False  # the message answers the pending question beyond doubt
        if incoming.choice is not None:
            if incoming.choice.startswith("/"):
                text = incoming.choice  # a command offered as a button
            elif incoming.choice in state.offered:
                choice = incoming.choice
                text, plain = None, True
            elif self._offered_below(state, incoming.choice):
                # A button of the question under an open menu: close the menu, answer below.
                while state.frames and self.flows.is_menu(state.frames[-1]):
                    state.frames.pop()
                choice, text, plain = incoming.choice, None, True
            else:
                out.append(Reply(t("input.stale_button")))
                return out + await self._reask(ctx, state, or_menu=True)
        elif text is not None and state.offered:
            # A typed number, or a choice's own words ("Lewati", "simpan"), answers as its button.
            picked = state.names.get(_name_key(text))
            if is_small_number(text) and 1 <= int(text) <= len(state.offered):
                picked = state.offered[int(text) - 1]
            plain = picked is not None
            if picked is None and parse_command(text) is None:
                # Part of one choice's words ("berbeda" for "Ide saya berbeda").
                picked = _partial_choice(state.names, _name_key(text))
            if picked is not None and picked.startswith("/"):
                text = picked
            elif picked is not None:
                choice, text = picked, None

        if choice is None and text is not None:
            parsed = parse_command(text)
            if parsed is not None:
                return await self._command(ctx, state, *parsed)

        if state.frames and not plain and await self._resumed(ctx, state.stored, incoming):
            # "halo" after a restart or a long break greets; it does not answer a question
            # the person no longer sees. Show the question; the next message answers it.
            return [Reply(t("flow.welcome_back")), *await self._reask(ctx, state)]

        answer = Answer(
            text=text,
            choice=choice,
            attachments=incoming.attachments,
            offered=len(state.offered),
        )
        if not state.frames:
            return await self._idle(ctx, state, answer)
        return await self._answer(ctx, state, answer)

    async def _resumed(self, ctx: StepContext, stored: StoredState, incoming: Incoming) -> bool:
        """Whether the person wrote long after the pending question was asked, or after a
        restart (the question was asked by an earlier run and may no longer be on screen)."""
        saved = stored.updated_at
        if saved is None or (saved >= self.started_at and ctx.now - saved <= RESUME_AFTER):
            return False
        written = ctx.now
        if incoming.update_key is not None:
            # A message stored before a crash and replayed now was written while the
            # question was on screen: it is an answer, however late it is processed.
            received = await ctx.session.scalar(
                select(InboundUpdate.received_at).where(
                    InboundUpdate.channel == incoming.channel,
                    InboundUpdate.update_key == incoming.update_key,
                )
            )
            written = received or written
        return written - saved > RESUME_AFTER or saved < self.started_at <= written

    def _offered_below(self, state: _State, payload: str) -> bool:
        """Whether ``payload`` was offered by the question under the open menus."""
        menus = 0
        for frame in reversed(state.frames):
            if not self.flows.is_menu(frame):
                break
            menus += 1
        if menus == 0 or menus == len(state.frames):
            return False
        bottom_menu = state.frames[len(state.frames) - menus]
        return payload in (bottom_menu.data.get(OFFERED_BELOW) or [])

    async def _answer(self, ctx: StepContext, state: _State, answer: Answer) -> list[Reply]:
        out: list[Reply] = []
        for _ in range(MAX_FALLTHROUGH):
            frame = state.frames[-1]
            step = self.flows.step(frame)
            assert step is not None
            if not await self._allowed(ctx, self.flows.access(frame)):
                # A role taken away mid-conversation: the flow stops at its next answer.
                state.frames.pop()
                return [Reply(ctx.t("access.denied")), *await self._reask(ctx, state, or_menu=True)]
            transition = await step.answer(ctx, frame, answer)
            if transition.fallthrough:
                out.extend(transition.say)
                state.frames.pop()
                if not state.frames:
                    return out + await self._idle(ctx, state, answer)
                continue
            return out + await self._apply(ctx, state, transition)
        return out + await self._reask(ctx, state)

    async def _apply(self, ctx: StepContext, state: _State, transition: Transition) -> list[Reply]:
        """Move the stack as the transition says, then ask whatever question is now current."""
        out = list(transition.say)
        resumed = False
        if transition.end:
            state.frames.pop()
            resumed = bool(state.frames)
        elif transition.goto is not None:
            state.frames[-1].step = transition.goto
        if transition.push is not None:
            existing = next(
                (i for i, f in enumerate(state.frames) if f.flow == transition.push.flow), None
            )
            if existing is not None and self.flows.is_menu(state.frames[existing]):
                # A menu is light: opening it again ("/tinjau 12" from the queue) opens it
                # afresh in its place, keeping the buttons of the question underneath.
                below = state.frames[existing].data.get(OFFERED_BELOW) or []
                del state.frames[existing:]
                transition.push.data[OFFERED_BELOW] = list(below)
                state.frames.append(transition.push)
            elif existing is not None:
                # The same conversation is already under way: go back to it, lose nothing.
                del state.frames[existing + 1 :]
                out.append(Reply(ctx.t("flow.already_running")))
            else:
                # Remember the buttons of the question underneath, so they keep working.
                transition.push.data[OFFERED_BELOW] = list(state.offered)
                state.frames.append(transition.push)
        if resumed and out and not out[-1].choices:
            out.append(Reply(ctx.t(self._resume_key(state))))
        if state.frames:
            out.append(await self._ask(ctx, state.frames[-1]))
        return out

    def _resume_key(self, state: _State) -> str:
        """How to say "back to what you were doing": a form to fill in, or a menu."""
        if state.frames and self.flows.is_menu(state.frames[-1]):
            return "flow.resume_menu"
        return "flow.resume"

    async def _ask(self, ctx: StepContext, frame: Frame) -> Reply:
        step = self.flows.step(frame)
        assert step is not None
        reply = await step.ask(ctx, frame)
        assert len(reply.choices) <= MAX_CHOICES
        return reply

    async def _reask(self, ctx: StepContext, state: _State, or_menu: bool = False) -> list[Reply]:
        if state.frames:
            return [await self._ask(ctx, state.frames[-1])]
        if or_menu:
            return [self._menu(ctx)]
        return []

    async def _idle(self, ctx: StepContext, state: _State, answer: Answer) -> list[Reply]:
        """A message with no conversation under way: register newcomers, show others the menu."""
        if not ctx.user.is_registered:
            return await self._start_registration(ctx, state, "registration.welcome")
        return [self._menu(ctx)]

    async def _start_registration(self, ctx: StepContext, state: _State, say: str) -> list[Reply]:
        registration = self.flows.get("registration")
        assert registration is not None
        return await self._apply(
            ctx, state, Transition(say=[Reply(ctx.t(say))], push=registration.new_frame())
        )

    def _menu(self, ctx: StepContext) -> Reply:
        from handlers.menu import main_menu

        return main_menu(ctx)

    async def _command(self, ctx: StepContext, state: _State, name: str, args: str) -> list[Reply]:
        t = ctx.t
        if name in CANCEL_COMMANDS:
            return await self._cancel(ctx, state)
        command = self.commands.find(name)
        if command is None:
            return [Reply(t("command.unknown", command="/" + name))] + await self._reask(
                ctx, state, or_menu=True
            )
        if not await self._allowed(ctx, command.access):
            return await self._refuse(ctx, state, command)
        transition = await command.run(ctx, args)
        if transition.push is None and not transition.end and transition.goto is None:
            # An informational command (help, an idea's detail): answer, then carry on where
            # we were. Open menus are light and were left for this: they close, so the answer
            # keeps its buttons ("/ideku 42" from the list of ideas is the idea, not the list).
            out = list(transition.say)
            while state.frames and self.flows.is_menu(state.frames[-1]):
                state.frames.pop()
            if state.frames:
                # Its buttons would compete with the question we return to: keep only the text.
                out = [Reply(r.text, file=r.file) for r in out]
                out.append(Reply(t("flow.resume")))
                out.append(await self._ask(ctx, state.frames[-1]))
            return out
        return await self._apply(ctx, state, transition)

    async def _allowed(self, ctx: StepContext, access: Access) -> bool:
        """The one role check. Roles are read only when a command needs more than registration."""
        if access in ELEVATED:
            await load_roles(ctx.session, ctx.user)
        return is_allowed(ctx.user, access)

    async def _cancel(self, ctx: StepContext, state: _State) -> list[Reply]:
        """/batal: close open menus; with no menu open, drop the work under way."""
        t = ctx.t
        if state.frames and self.flows.is_menu(state.frames[-1]):
            while state.frames and self.flows.is_menu(state.frames[-1]):
                state.frames.pop()
            if state.frames:
                # Only a menu was open: the draft underneath is kept and asked again.
                return [Reply(t("flow.menu_closed")), await self._ask(ctx, state.frames[-1])]
            out = [Reply(t("flow.menu_closed"))]
        elif state.frames:
            state.frames.clear()
            out = [Reply(t("flow.cancelled"))]
        else:
            out = [Reply(t("flow.nothing_to_cancel"))]
        if ctx.user.is_registered:
            out.append(self._menu(ctx))
        else:
            # Without registration nothing else works: say so, and offer the way back in.
            start = make_choice("/mulai", t("registration.start_button"))
            out.append(Reply(t("registration.start_again"), choices=(start,)))
        return out

    async def _refuse(self, ctx: StepContext, state: _State, command: Command) -> list[Reply]:
        if not ctx.user.is_registered:
            return await self._start_registration(ctx, state, "access.register_first")
        return [Reply(ctx.t("access.denied")), *await self._reask(ctx, state)]

    async def _group_message(self, ctx: StepContext, text: str | None) -> list[Reply]:
        """In group chats SASI answers only group commands, and only to those allowed them.

        Everything else gets silence: a group is shared, and a bot that answers every stray
        command there is noise for everyone in it.
        """
        parsed = parse_command(text) if text else None
        if parsed is None:
            return []
        command = self.commands.find(parsed[0])
        if command is None or not command.in_groups:
            return []
        if command.access in (Access.ANYONE, Access.REGISTERED):
            return []  # group commands are for coordinators and Bappeda by design
        if not await self._allowed(ctx, command.access):
            return []
        transition = await command.run(ctx, parsed[1])
        return list(transition.say)
