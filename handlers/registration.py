"""Registration (``/mulai``): name, NIP, OPD, position. A NIP already registered on another
channel is linked to that person after a one-time code sent there proves it is them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from handlers.choices import choice
from handlers.context import StepContext
from handlers.flow import (
    Answer,
    Flow,
    Frame,
    Transition,
    choose_option,
    end,
    goto,
    stay,
    text_problem,
)
from handlers.menu import main_menu_choices
from handlers.messages import Delivery, Reply, TemplateCall
from handlers.nip import NipProblem, parse_nip
from handlers.opd_picker import OpdPicker, Picked, Problem
from handlers.text import has_word_character, one_line
from storage.models import Identity, LinkAttempt, LinkEvent, Opd
from storage.queries import reachable_identities, user_by_nip
from storage.roster import roster_entry, same_person_name

NAME_MAX = 120
POSITION_MAX = 200
LINK_ATTEMPTS = 3  # wrong codes before one attempt ends
CODES_PER_DAY = 3  # codes sent to one person per day, whoever asks
WRONG_CODES_PER_DAY = 6  # wrong guesses against one person per day, whoever guesses

ROSTER_NAME, TYPED_NAME = "rname:roster", "rname:typed"
ROSTER_OPD, OTHER_OPD = "ropd:yes", "ropd:other"

flow = Flow(name="registration", first="name")
opd_picker = OpdPicker(prefix="opd", prompt_key="registration.ask_opd")


async def ask_name(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(ctx.t("registration.ask_name"))


def _one_line(
    ctx: StepContext, answer: Answer, minimum: int, maximum: int, field: str
) -> str | Reply:
    """A single-line answer within its length, or what to tell the person instead."""
    if problem := text_problem(ctx, answer):
        return problem
    assert answer.text is not None
    value = one_line(answer.text)
    if len(value) < minimum or not has_word_character(value):
        return Reply(ctx.t(f"registration.{field}_invalid"))
    if len(value) > maximum:
        return Reply(ctx.t(f"registration.{field}_too_long", limit=maximum))
    return value


async def answer_name(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    name = _one_line(ctx, answer, 3, NAME_MAX, "name")
    if isinstance(name, Reply):
        return stay(name)
    frame.data["name"] = name
    return goto("nip")


async def ask_nip(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(ctx.t("registration.ask_nip"))


NIP_PROBLEM_KEYS = {
    NipProblem.NOT_DIGITS: "nip.not_digits",
    NipProblem.WRONG_LENGTH: "nip.wrong_length",
    NipProblem.BAD_BIRTH_DATE: "nip.bad_birth_date",
    NipProblem.BAD_APPOINTMENT: "nip.bad_appointment",
    NipProblem.BAD_GENDER: "nip.bad_gender",
}


async def answer_nip(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if problem := text_problem(ctx, answer):
        return stay(problem)
    assert answer.text is not None
    parsed = parse_nip(answer.text, ctx.now.astimezone(ctx.timezone).date())
    if isinstance(parsed, NipProblem):
        return stay(Reply(ctx.t(NIP_PROBLEM_KEYS[parsed])))
    owner = await user_by_nip(ctx.session, parsed.value)
    if owner is not None and owner.id != ctx.user.id:
        return await _start_link(ctx, frame, owner.id, parsed.value)
    frame.data["nip"] = parsed.value
    return await _match_roster(ctx, frame, parsed.value)


async def _match_roster(ctx: StepContext, frame: Frame, nip: str) -> Transition:
    """A NIP on the Pemda's roster brings its OPD; a name that differs from the roster's is
    shown to the person to choose, never overwritten either way."""
    for key in ("roster_name", "roster_opd_id", "roster_opd_declined"):
        frame.data.pop(key, None)
    entry = await roster_entry(ctx.session, nip)
    if entry is None:
        return goto("opd")
    frame.data["roster_opd_id"] = entry.opd_id
    if not same_person_name(entry.full_name, str(frame.data["name"])):
        frame.data["roster_name"] = entry.full_name
        return goto("roster_name")
    return goto("opd")


async def ask_roster_name(ctx: StepContext, frame: Frame) -> Reply:
    roster, typed = str(frame.data["roster_name"]), str(frame.data["name"])
    return Reply(
        ctx.t("registration.roster_name", roster=roster, typed=typed),
        choices=(
            choice(ROSTER_NAME, ctx.t("registration.use_roster_name", name=roster)),
            choice(TYPED_NAME, ctx.t("registration.keep_typed_name", name=typed)),
        ),
    )


async def answer_roster_name(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == ROSTER_NAME:
        frame.data["name"] = frame.data["roster_name"]
    elif answer.choice != TYPED_NAME:
        return stay(choose_option(ctx, answer))
    return goto("opd")


async def _start_link(ctx: StepContext, frame: Frame, owner_id: int, nip: str) -> Transition:
    """Send a one-time code to the owner's other channels; the sender must type it back."""
    targets = [
        i for i in await reachable_identities(ctx.session, owner_id) if i.channel != "terminal"
    ]
    if not targets:
        return stay(Reply(ctx.t("link.unreachable")))
    if (
        await _recent(ctx, owner_id, LinkEvent.CODE_SENT) >= CODES_PER_DAY
        or await _recent(ctx, owner_id, LinkEvent.WRONG_CODE) >= WRONG_CODES_PER_DAY
    ):
        return stay(Reply(ctx.t("link.too_many")))
    _record(ctx, owner_id, LinkEvent.CODE_SENT)
    code = f"{secrets.randbelow(1_000_000):06d}"
    frame.data.update(
        link_owner=owner_id,
        link_nip=nip,
        link_code=_digest(code, ctx.user.id),
        link_attempts=0,
    )
    channel_names = sorted({ctx.t(f"channel.{i.channel}") for i in targets})
    for identity in targets:
        ctx.deliveries.append(
            Delivery(
                channel=identity.channel,
                external_id=identity.external_id,
                replies=(
                    Reply(
                        ctx.t(
                            "link.code_message",
                            code=code,
                            channel=ctx.t(f"channel.{ctx.identity.channel}"),
                        )
                    ),
                ),
                template=TemplateCall("link_code", (code,)),
                kind="link_code",
                sensitive=True,
            )
        )
    return goto("link_code", Reply(ctx.t("link.code_sent", channels=", ".join(channel_names))))


async def _recent(ctx: StepContext, owner_id: int, event: LinkEvent) -> int:
    """How many such events concern this person in the last day (across every requester)."""
    since = ctx.now - timedelta(days=1)
    count = await ctx.session.scalar(
        select(func.count())
        .select_from(LinkAttempt)
        .where(
            LinkAttempt.target_user_id == owner_id,
            LinkAttempt.event == event,
            LinkAttempt.created_at >= since,
        )
    )
    return int(count or 0)


def _record(ctx: StepContext, owner_id: int, event: LinkEvent) -> None:
    ctx.session.add(
        LinkAttempt(
            target_user_id=owner_id, requester_user_id=ctx.user.id, event=event, created_at=ctx.now
        )
    )


def _digest(code: str, salt: int) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


async def ask_link_code(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(ctx.t("link.ask_code"))


async def answer_link_code(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if problem := text_problem(ctx, answer):
        return stay(problem)
    assert answer.text is not None
    typed = "".join(answer.text.split())
    if secrets.compare_digest(_digest(typed, ctx.user.id), str(frame.data.get("link_code"))):
        return await _link(ctx, frame)
    attempts = int(frame.data.get("link_attempts", 0)) + 1
    frame.data["link_attempts"] = attempts
    owner_id = int(frame.data["link_owner"])
    _record(ctx, owner_id, LinkEvent.WRONG_CODE)
    if (
        attempts >= LINK_ATTEMPTS
        or await _recent(ctx, owner_id, LinkEvent.WRONG_CODE) >= WRONG_CODES_PER_DAY
    ):
        return end(Reply(ctx.t("link.failed")))
    return stay(Reply(ctx.t("link.wrong_code", left=LINK_ATTEMPTS - attempts)))


async def _link(ctx: StepContext, frame: Frame) -> Transition:
    """Move this channel identity to the registered person: their ideas and roles follow."""
    owner_id = int(frame.data["link_owner"])
    _record(ctx, owner_id, LinkEvent.LINKED)
    identity = await ctx.session.get(Identity, ctx.identity.id)
    assert identity is not None
    identity.user_id = owner_id
    await ctx.session.flush()
    owner = await user_by_nip(ctx.session, str(frame.data["link_nip"]))
    name = owner.full_name if owner is not None and owner.full_name else ""
    return end(Reply(ctx.t("link.done", name=name), choices=main_menu_choices(ctx.t)))


async def _roster_opd(ctx: StepContext, frame: Frame) -> Opd | None:
    """The roster's OPD for this NIP, while the person has not chosen to pick another."""
    opd_id = frame.data.get("roster_opd_id")
    if not isinstance(opd_id, int) or frame.data.get("roster_opd_declined"):
        return None
    return await ctx.session.get(Opd, opd_id)


async def ask_opd(ctx: StepContext, frame: Frame) -> Reply:
    opd = await _roster_opd(ctx, frame)
    if opd is not None:
        return Reply(
            ctx.t("registration.roster_opd", opd=opd.name),
            choices=(
                choice(ROSTER_OPD, ctx.t("registration.roster_opd_yes")),
                choice(OTHER_OPD, ctx.t("registration.roster_opd_other")),
            ),
        )
    return await opd_picker.ask(ctx, frame)


async def answer_opd(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    opd = await _roster_opd(ctx, frame)
    if opd is not None:
        if answer.choice == ROSTER_OPD:
            frame.data["opd_id"] = opd.id
            return goto("position")
        if answer.choice == OTHER_OPD:
            frame.data["roster_opd_declined"] = True
            return stay()
        if answer.choice is not None or not answer.text:
            return stay(choose_option(ctx, answer))
        # Typing an OPD's name instead of pressing a button means "another one": search it.
        frame.data["roster_opd_declined"] = True
    result = await opd_picker.answer(ctx, frame, answer)
    if isinstance(result, Problem):
        return stay(result.reply)
    if isinstance(result, Picked):
        frame.data["opd_id"] = result.opd_id
        return goto("position")
    return stay()


async def ask_position(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(ctx.t("registration.ask_position"))


async def answer_position(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    position = _one_line(ctx, answer, 2, POSITION_MAX, "position")
    if isinstance(position, Reply):
        return stay(position)
    if await user_by_nip(ctx.session, str(frame.data["nip"])) not in (None, ctx.user):
        # Someone registered this NIP while we were talking: go back and link instead.
        return goto("nip", Reply(ctx.t("registration.nip_taken_meanwhile")))
    user = ctx.user
    try:
        async with ctx.session.begin_nested():
            user.nip = str(frame.data["nip"])
            await ctx.session.flush()
    except IntegrityError:
        # Registered by someone else in the same instant (another process): link instead.
        user.nip = None
        return goto("nip", Reply(ctx.t("registration.nip_taken_meanwhile")))
    user.full_name = str(frame.data["name"])
    user.opd_id = int(frame.data["opd_id"])
    user.position = position
    user.registered_at = ctx.now
    return end(
        Reply(ctx.t("registration.done", name=user.full_name), choices=main_menu_choices(ctx.t))
    )


flow.add("name", ask_name, answer_name)
flow.add("nip", ask_nip, answer_nip)
flow.add("link_code", ask_link_code, answer_link_code)
flow.add("roster_name", ask_roster_name, answer_roster_name)
flow.add("opd", ask_opd, answer_opd)
flow.add("position", ask_position, answer_position)
