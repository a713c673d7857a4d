"""``/siaran``: coordinators and Bappeda send an announcement to a segment of ASN.

The sender writes the text, may add a document, picks a segment within what they may reach
(handlers/access.py: a coordinator only their OPDs), sees a preview with the number of
recipients per channel, and confirms. Confirming queues one outbox row per recipient and a
progress message for the sender; bot/broadcasts/progress.py keeps that message up to date
and writes the final report. ``/siaran batal N`` (or the button) cancels what has not gone.
"""

from __future__ import annotations

import uuid
from typing import Any

from handlers.access import Access, load_roles, sees_everything, visible_opds
from handlers.attachments import draft_file
from handlers.broadcast_messages import progress_reply, recipient_rows, status_row
from handlers.choices import choice
from handlers.context import StepContext
from handlers.dates import local_today, period_of
from handlers.flow import Answer, Flow, Frame, Transition, end, goto, push, stay, text_problem
from handlers.messages import Reply
from handlers.opd_picker import OpdPicker, Picked, Problem
from storage.audit import Actor, record
from storage.broadcasts import Audience, audience, cancel, find_by_draft, state_counts
from storage.models import Broadcast, Stage
from storage.outbox import add_messages
from storage.queries import opds_by_id

flow = Flow(name="broadcast", first="text", access=Access.COORDINATOR)
opd_picker = OpdPicker(prefix="bc_opd", prompt_key="broadcast.ask_opd")

# The text plus SASI's one-line header fits in one Telegram message (4,096) and one
# WhatsApp text (4,096); a longer announcement belongs in the document.
MAX_TEXT = 3800

SKIP_FILE = "bc:nofile"
SEGMENT = "bc:seg:"  # + all | opd | stage | overdue | coordinators
STAGE = "bc:stage:"  # + a stage value
CONFIRM = "bc:confirm"
CANCEL = "bc:cancel"


async def broadcast_command(ctx: StepContext, args: str) -> Transition:
    words = args.split()
    if words and words[0].lower() in ("batal", "cancel"):
        return await _cancel(ctx, words[1] if len(words) > 1 else "")
    return push(flow.new_frame({"draft": uuid.uuid4().hex}))


# -- text and document ----------------------------------------------------------------------


async def ask_text(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(ctx.t("broadcast.ask_text", limit=MAX_TEXT))


async def answer_text(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if problem := text_problem(ctx, answer):
        return stay(problem)
    assert answer.text is not None
    text = answer.text.strip()
    if len(text) > MAX_TEXT:
        return stay(Reply(ctx.t("broadcast.too_long", limit=MAX_TEXT, length=len(text))))
    frame.data["text"] = text
    return goto("file")


async def ask_file(ctx: StepContext, frame: Frame) -> Reply:
    return Reply(
        ctx.t("broadcast.ask_file"), choices=(choice(SKIP_FILE, ctx.t("broadcast.no_file")),)
    )


async def answer_file(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice == SKIP_FILE:
        frame.data["file"] = None
        return goto("segment")
    if answer.attachments:
        attachment = answer.attachments[0]
        if attachment.kind != "document":
            return stay(Reply(ctx.t("broadcast.document_expected")))
        frame.data["file"] = draft_file(attachment)
        return goto("segment")
    return stay(Reply(ctx.t("broadcast.file_or_skip")))


# -- the segment --------------------------------------------------------------------------


async def _scope(ctx: StepContext) -> list[int] | None:
    """The OPDs the sender may reach: None for every OPD (Bappeda, admin)."""
    await load_roles(ctx.session, ctx.user)
    scope = visible_opds(ctx.user)
    return None if scope is None else sorted(scope)


async def ask_segment(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    scope = await _scope(ctx)
    kinds: tuple[str, ...]
    if scope is None:
        kinds = ("all", "opd", "stage", "overdue", "coordinators")
        text = t("broadcast.ask_segment")
    else:
        kinds = ("all", "stage", "overdue")
        names = ", ".join(o.short_name for o in (await opds_by_id(ctx.session, scope)).values())
        text = t("broadcast.ask_segment_opds", opds=names or "-")
    return Reply(
        text, choices=tuple(choice(f"{SEGMENT}{k}", t(f"broadcast.segment.{k}")) for k in kinds)
    )


async def answer_segment(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    if answer.choice is None or not answer.choice.startswith(SEGMENT):
        return stay(Reply(ctx.t("input.choose_option", last=answer.offered or 5)))
    kind = answer.choice.removeprefix(SEGMENT)
    scope = await _scope(ctx)
    everything = ("all", "opd", "stage", "overdue", "coordinators")
    allowed = everything if scope is None else ("all", "stage", "overdue")
    if kind not in allowed:
        # A forged payload, or a role lost since the buttons were sent.
        return stay(Reply(ctx.t("access.denied")))
    segment: dict[str, Any] = {"kind": kind, "opds": scope}
    if kind == "overdue":
        segment["period"] = period_of(local_today(ctx.now, ctx.timezone))
    frame.data["segment"] = segment
    if kind == "opd":
        opd_picker.reset(frame)
        return goto("opd")
    if kind == "stage":
        return goto("stage")
    return goto("preview")


async def ask_opd(ctx: StepContext, frame: Frame) -> Reply:
    return await opd_picker.ask(ctx, frame)


async def answer_opd(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    result = await opd_picker.answer(ctx, frame, answer)
    if isinstance(result, Problem):
        return stay(result.reply)
    if isinstance(result, Picked):
        await load_roles(ctx.session, ctx.user)
        if not sees_everything(ctx.user):
            return stay(Reply(ctx.t("access.denied")))
        frame.data["segment"] = {"kind": "opd", "opds": [result.opd_id]}
        return goto("preview")
    return stay()


async def ask_stage(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    return Reply(
        t("broadcast.ask_stage"),
        choices=tuple(choice(f"{STAGE}{s.value}", t(f"stage.{s.value}")) for s in Stage),
    )


async def answer_stage(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    value = (answer.choice or "").removeprefix(STAGE)
    if not (answer.choice or "").startswith(STAGE) or value not in {s.value for s in Stage}:
        return stay(Reply(ctx.t("input.choose_option", last=answer.offered or len(Stage))))
    segment = dict(frame.data.get("segment") or {})
    segment.update(kind="stage", stage=value, opds=await _scope(ctx))  # scope re-read
    frame.data["segment"] = segment
    return goto("preview")


# -- preview and confirmation -------------------------------------------------------------


async def _audience(ctx: StepContext, frame: Frame) -> Audience:
    return await audience(ctx.session, frame.data["segment"], ctx.now, exclude=ctx.user.id)


async def _segment_name(ctx: StepContext, segment: dict[str, Any]) -> str:
    t = ctx.t
    kind = str(segment.get("kind"))
    name = t(f"broadcast.segment.{kind}")
    if kind == "stage":
        name += f": {t('stage.' + str(segment.get('stage')))}"
    opds = segment.get("opds")
    if opds is not None:
        found = await opds_by_id(ctx.session, opds)
        name += f" ({', '.join(o.short_name for o in found.values())})"
    return name


async def ask_preview(ctx: StepContext, frame: Frame) -> Reply:
    t = ctx.t
    found = await _audience(ctx, frame)
    channels = found.per_channel()
    lines = [
        t("broadcast.preview", segment=await _segment_name(ctx, frame.data["segment"])),
        t("broadcast.preview_total", count=len(found.recipients)),
    ]
    lines += [
        t("broadcast.preview_channel", channel=t(f"channel.{c}"), count=n)
        for c, n in channels.items()
    ]
    if found.templates:
        lines.append(t("broadcast.preview_templates", count=found.templates))
    if found.unreachable:
        lines.append(t("broadcast.preview_unreachable", count=found.unreachable))
    file = frame.data.get("file")
    if file:
        lines.append(t("broadcast.preview_file", name=file["file_name"]))
    lines += ["", t("broadcast.preview_text"), str(frame.data.get("text", ""))]
    if not found.recipients:
        lines.append("\n" + t("broadcast.nobody"))
        return Reply("\n".join(lines), choices=(choice(CANCEL, t("broadcast.cancel_draft")),))
    return Reply(
        "\n".join(lines),
        choices=(
            choice(CONFIRM, t("broadcast.confirm")),
            choice(CANCEL, t("broadcast.cancel_draft")),
        ),
    )


async def answer_preview(ctx: StepContext, frame: Frame, answer: Answer) -> Transition:
    t = ctx.t
    if answer.choice == CANCEL:
        return end(Reply(t("broadcast.discarded")))
    if answer.choice != CONFIRM:
        return stay(Reply(t("input.choose_option", last=answer.offered or 2)))
    draft = str(frame.data["draft"])
    existing = await find_by_draft(ctx.session, draft)
    if existing is not None:
        return end(Reply(t("broadcast.already_sent", id=existing.id)))
    found = await _audience(ctx, frame)
    if not found.recipients:
        return stay(Reply(t("broadcast.nobody")))
    broadcast = await _queue(ctx, frame, found)
    return end(Reply(t("broadcast.queued", id=broadcast.id, count=broadcast.recipients)))


async def _queue(ctx: StepContext, frame: Frame, found: Audience) -> Broadcast:
    file = frame.data.get("file") or {}
    counts: dict[str, Any] = {
        "channels": found.per_channel(),
        "templates": found.templates,
        "unreachable": found.unreachable,
    }
    broadcast = Broadcast(
        draft_key=str(frame.data["draft"]),
        sender_id=ctx.user.id,
        text=str(frame.data["text"]),
        file_path=file.get("path"),
        file_name=file.get("file_name"),
        mime_type=file.get("mime_type"),
        segment=frame.data["segment"],
        counts=counts,
        recipients=len(found.recipients),
        progress_channel=ctx.identity.channel,
        progress_chat=ctx.identity.external_id,
        locale=ctx.t.locale,
        created_at=ctx.now,
        confirmed_at=ctx.now,
    )
    ctx.session.add(broadcast)
    await ctx.session.flush()
    sender = ctx.user.full_name or ""
    if ctx.user.opd is not None:
        sender += f" ({ctx.user.opd.short_name})"
    rows = recipient_rows(broadcast, found, sender, ctx.now)
    rows.append(status_row(broadcast, "progress", progress_reply(ctx.t, broadcast, {}), ctx.now))
    await add_messages(ctx.session, rows)
    record(
        ctx.session,
        Actor.of(ctx.user),
        "broadcast.send",
        f"broadcast:{broadcast.id}",
        after={"segment": broadcast.segment, "recipients": broadcast.recipients},
    )
    return broadcast


# -- cancelling ---------------------------------------------------------------------------


async def _cancel(ctx: StepContext, which: str) -> Transition:
    t = ctx.t
    broadcast = await ctx.session.get(Broadcast, int(which)) if which.isdigit() else None
    if broadcast is None:
        return Transition(say=[Reply(t("broadcast.not_found"))])
    await load_roles(ctx.session, ctx.user)
    if broadcast.sender_id != ctx.user.id and not sees_everything(ctx.user):
        return Transition(say=[Reply(t("access.denied"))])
    if broadcast.finished_at is not None:
        return Transition(say=[Reply(t("broadcast.already_finished", id=broadcast.id))])
    cancelled = await cancel(ctx.session, broadcast, ctx.now)
    counts = await state_counts(ctx.session, broadcast.id)
    record(ctx.session, Actor.of(ctx.user), "broadcast.cancel", f"broadcast:{broadcast.id}")
    in_flight = counts.get("sending", 0)
    return Transition(
        say=[Reply(t("broadcast.cancelled", id=broadcast.id, count=cancelled, flight=in_flight))]
    )


flow.add("text", ask_text, answer_text)
flow.add("file", ask_file, answer_file)
flow.add("segment", ask_segment, answer_segment)
flow.add("opd", ask_opd, answer_opd)
flow.add("stage", ask_stage, answer_stage)
flow.add("preview", ask_preview, answer_preview)
