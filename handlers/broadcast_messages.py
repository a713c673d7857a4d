"""What a broadcast puts in the outbox: one row per recipient, and the sender's progress.

Shared by the ``/siaran`` flow (which queues a broadcast when it is confirmed) and the
progress loop beside the outbox sender (bot/broadcasts/progress.py), which keeps the
sender's progress message up to date and writes the final report.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from handlers.choices import choice
from handlers.i18n import Translator
from handlers.messages import OutgoingFile, Reply, TemplateCall, outbox_payload
from storage.broadcasts import KIND, PROGRESS_KIND, Audience, row_key
from storage.models import Broadcast
from storage.outbox import NewMessage, OutboxState

# After every interactive reply (0) and reminder (5): a broadcast of thousands must not hold
# up the answer to someone chatting with SASI now. The progress of a broadcast goes before it.
PRIORITY = 8
PROGRESS_PRIORITY = 1
PENDING_STATES = (OutboxState.PENDING.value, OutboxState.SENDING.value)


def cancel_payload(broadcast_id: int) -> str:
    """The cancel button: a command offered as a button, so it works from the message
    whatever the sender is doing in the chat at the time."""
    return f"/siaran batal {broadcast_id}"


def recipient_rows(
    broadcast: Broadcast, audience: Audience, sender_name: str, now: datetime
) -> list[NewMessage]:
    """One outbox row per recipient; the key makes queueing it twice a no-op."""
    rows: list[NewMessage] = []
    file = (
        OutgoingFile("document", Path(broadcast.file_path), broadcast.file_name or "dokumen")
        if broadcast.file_path
        else None
    )
    # WhatsApp past 24 hours: the approved template "sasi_siaran" (sender, message) instead.
    template = TemplateCall("broadcast", (sender_name, broadcast.text))
    for person in audience.recipients:
        t = Translator(person.locale or broadcast.locale)
        # The text goes as written; SASI only says who sent it, in plain words.
        text = t("broadcast.header", sender=sender_name) + "\n\n" + broadcast.text
        replies = [Reply(text, file=file)]
        rows.append(
            NewMessage(
                key=row_key(broadcast.id, person.user_id),
                kind=KIND,
                channel=person.channel,
                recipient=person.external_id,
                payload=outbox_payload(replies, template),
                due_at=now,
                user_id=person.user_id,
                broadcast_id=broadcast.id,
                priority=PRIORITY,
                # Not held for working time: the sender chose the moment by confirming, and
                # is watching its progress; a broadcast sent at 17:00 that stalls until
                # tomorrow 08:00 would look broken (and the sender can schedule by waiting).
                working_time=False,
            )
        )
    return rows


def done_of(counts: dict[str, int]) -> int:
    return sum(n for state, n in counts.items() if state not in PENDING_STATES)


def progress_reply(
    t: Translator, broadcast: Broadcast, counts: dict[str, int], *, final: bool = False
) -> Reply:
    """The progress message: how many went, out of how many, with the cancel button
    (none once it is over)."""
    total = broadcast.recipients
    done = done_of(counts)
    percent = 100 * done // total if total else 100
    text = t(
        "broadcast.progress",
        id=broadcast.id,
        done=done,
        total=total,
        percent=percent,
        sent=counts.get(OutboxState.SENT.value, 0),
    )
    if broadcast.cancelled_at is not None:
        text += "\n" + t("broadcast.cancelling")
    if final or broadcast.cancelled_at is not None:
        return Reply(text)
    return Reply(text, choices=(choice(cancel_payload(broadcast.id), t("broadcast.cancel")),))


def report_reply(
    t: Translator, broadcast: Broadcast, counts: dict[str, int], in_doubt: int = 0
) -> Reply:
    """The final report: every recipient row by what happened to it, and how many were
    sent again after a crash caught them in flight (they may have had it twice)."""
    text = t(
        "broadcast.report",
        id=broadcast.id,
        total=broadcast.recipients,
        sent=counts.get(OutboxState.SENT.value, 0),
        failed=counts.get(OutboxState.FAILED.value, 0),
        blocked=counts.get(OutboxState.BLOCKED.value, 0),
        no_template=counts.get(OutboxState.NO_TEMPLATE.value, 0),
        cancelled=counts.get(OutboxState.CANCELLED.value, 0),
        unreachable=int(broadcast.counts.get("unreachable", 0)),
    )
    if in_doubt:
        text += "\n" + t("broadcast.report_in_doubt", count=in_doubt)
    return Reply(text)


def report_template(broadcast: Broadcast, counts: dict[str, int]) -> TemplateCall:
    """The final report on WhatsApp past 24 hours (the progress lines have none: a paid
    template for each quarter would be noise, and the report says it all)."""
    sent = counts.get(OutboxState.SENT.value, 0)
    return TemplateCall(
        "broadcast_report",
        (str(broadcast.id), str(sent), str(broadcast.recipients), str(broadcast.recipients - sent)),
    )


def status_row(
    broadcast: Broadcast,
    suffix: str,
    reply: Reply,
    now: datetime,
    *,
    edit_message_id: int | None = None,
    template: TemplateCall | None = None,
) -> NewMessage:
    """A message to the sender about their broadcast (key ``broadcast:{id}:{suffix}``)."""
    payload = outbox_payload([reply], template)
    if edit_message_id is not None:
        payload["edit_message_id"] = edit_message_id
    return NewMessage(
        key=f"broadcast:{broadcast.id}:{suffix}",
        kind=PROGRESS_KIND,
        channel=broadcast.progress_channel,
        recipient=broadcast.progress_chat,
        payload=payload,
        due_at=now,
        user_id=broadcast.sender_id,
        broadcast_id=broadcast.id,
        priority=PROGRESS_PRIORITY,
    )
