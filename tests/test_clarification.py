"""The owner answers a reviewer's clarification question, through the real core.

From the notice's button (or typed ``/ideku N jawab``) the owner writes the answer: it is kept
with who asked and who answered, audited, shown in both details, the queue stops waiting, and
the reviewers who asked are told through the outbox. Old buttons and bad input are answered
politely and change nothing.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from handlers.clarification import MAX_ANSWER_CHARS
from handlers.messages import Attachment
from handlers.notices import long_date
from storage.models import IdeaClarification, IdeaStatus
from tests.chat import EN, ID, ChatDriver
from tests.review_world import (
    ReviewWorld,
    add_collaborator,
    audit_of,
    build_review_world,
    idea,
    outbox,
    set_locale,
)
from tests.test_review import queue_ids

QUESTION = "Berapa puskesmas yang akan dilayani, dan siapa <b>kadernya</b>?"
ANSWER = "Tiga puskesmas: Sukamaju, Karangrejo, Kauman. Kader *posyandu* setempat 🙏"


@pytest.fixture
async def rw(chat: ChatDriver) -> ReviewWorld:
    return await build_review_world(chat)


async def ask(rw: ReviewWorld, reviewer: str = "bappeda", question: str = QUESTION) -> None:
    await rw.chat.say(reviewer, f"/tinjau {rw.duplicate}")
    await rw.chat.press(reviewer, f"rv:clarify:{rw.duplicate}")
    replies = await rw.chat.say(reviewer, question)
    assert replies[0].text == ID("review.clarify_sent", id=rw.duplicate, name="JEMPUT LANSIA")


def asked(rw: ReviewWorld) -> str:
    return ID(
        "clarify.ask", id=rw.duplicate, name="JEMPUT LANSIA", question=QUESTION, limit="3.000"
    )


async def rounds(rw: ReviewWorld) -> list[IdeaClarification]:
    async with rw.chat.core.database.sessions() as session:
        rows = await session.scalars(
            select(IdeaClarification)
            .where(IdeaClarification.idea_id == rw.duplicate)
            .order_by(IdeaClarification.id)
        )
        return list(rows)


async def test_the_owner_answers_from_the_notice_and_the_reviewer_is_told(
    rw: ReviewWorld,
) -> None:
    chat, users = rw.chat, rw.world.users
    await ask(rw)
    [notice] = await outbox(rw, "clarify_request")
    [button] = notice.payload["replies"][0]["choices"]

    replies = await chat.press("asn", button["payload"])
    assert asked(rw) in chat.text("asn")
    replies = await chat.say("asn", ANSWER)
    assert replies[0].text == ID("clarify.sent", id=rw.duplicate, name="JEMPUT LANSIA")
    # The detail that follows shows question and answer, and no answer button any more.
    assert ANSWER in replies[-1].text and QUESTION in replies[-1].text
    assert f"/ideku {rw.duplicate} jawab" not in [c.payload for c in replies[-1].choices]

    [row] = await rounds(rw)
    assert (row.question, row.answer) == (QUESTION, ANSWER)
    assert (row.asked_by_id, row.answered_by_id) == (users["bappeda"], users["asn"])
    assert row.answered_at is not None and row.answered_at >= row.asked_at
    stored = await idea(rw, rw.duplicate)
    assert (stored.status, stored.status_reason, stored.reviewed_at) == (
        IdeaStatus.SUBMITTED,
        None,
        None,
    )
    entry = (await audit_of(rw, rw.duplicate))[-1]
    assert (entry.action, entry.actor_id) == ("idea.clarify_answer", users["asn"])
    assert (entry.before, entry.after) == ({"question": QUESTION}, {"answer": ANSWER})

    # The reviewer who asked is told, through the outbox, with the answer as written.
    [told] = await outbox(rw, "clarify_answer")
    assert told.recipient == "bappeda" and told.key.startswith("delivery:")
    text = told.payload["replies"][0]["text"]
    assert text == ID(
        "clarify.told_answered",
        id=rw.duplicate,
        idea="JEMPUT LANSIA",
        by="Rina Marlina",
        question=QUESTION,
        answer=ANSWER,
    )
    assert told.payload["template"] == {
        "purpose": "clarification_answer",
        "parameters": ["Agus Wijaya", "JEMPUT LANSIA", "Rina Marlina", ANSWER],
    }
    # The queue no longer waits: it says the owner answered; the detail shows the answer.
    await chat.say("bappeda", "/tinjau")
    assert rw.duplicate in queue_ids(chat, "bappeda")
    assert ID("review.flag_waiting") not in chat.text("bappeda")
    assert ID("review.flag_answered") in chat.text("bappeda")
    await chat.press("bappeda", told.payload["replies"][0]["choices"][0]["payload"])
    assert ID("review.detail_title", id=rw.duplicate, name="JEMPUT LANSIA") in chat.text("bappeda")
    assert ANSWER in chat.text("bappeda")
    assert ID("review.waiting_for_owner", question=QUESTION) not in chat.text("bappeda")


async def test_the_typed_route_and_the_detail_button(rw: ReviewWorld) -> None:
    chat = rw.chat
    await ask(rw)
    detail = await chat.say("asn", f"/ideku {rw.duplicate}")
    assert ID("detail.clarification", question=QUESTION) in detail[0].text
    payloads = [c.payload for c in detail[0].choices]
    assert payloads[0] == f"/ideku {rw.duplicate} jawab"
    assert f"/ideku {rw.duplicate} ubah" in payloads  # the owner's own buttons stay
    await chat.say("asn", f"/ideku {rw.duplicate} jawab")
    await chat.say("asn", ANSWER)
    assert [r.answer for r in await rounds(rw)] == [ANSWER]


async def test_an_old_button_after_the_answer_or_a_verification(rw: ReviewWorld) -> None:
    chat = rw.chat
    await ask(rw)
    button = f"/ideku {rw.duplicate} jawab"
    await chat.press("asn", button)
    await chat.say("asn", ANSWER)
    replies = await chat.press("asn", button)
    today = long_date(ID, datetime.now(chat.core.settings.tz).date())
    assert replies[0].text == ID(
        "clarify.already_answered", id=rw.duplicate, by="Rina Marlina", date=today
    )
    # A second question reopens it; a verification meanwhile closes it for good.
    await ask(rw, question="Kapan uji coba dimulai?")
    await chat.press("asn", button)
    await chat.say("bappeda", f"/tinjau {rw.duplicate}")
    await chat.press("bappeda", f"rv:verify:{rw.duplicate}")
    replies = await chat.say("asn", "Bulan depan.")
    assert replies[0].text == ID("clarify.closed", id=rw.duplicate, status=ID("status.verified"))
    replies = await chat.press("asn", button)
    assert replies[0].text == ID("clarify.closed", id=rw.duplicate, status=ID("status.verified"))
    assert [r.answer for r in await rounds(rw)] == [ANSWER, None]
    assert len(await outbox(rw, "clarify_answer")) == 1


async def test_nothing_to_answer_and_not_yours(rw: ReviewWorld) -> None:
    chat = rw.chat
    replies = await chat.say("asn", f"/ideku {rw.duplicate} jawab")
    assert replies[0].text == ID("clarify.none", id=rw.duplicate)
    await ask(rw)
    # Reviewers and strangers answer nothing for the owner: the same as a missing idea.
    for person in ("coordinator", "other_coordinator", "bappeda"):
        replies = await chat.say(person, f"/ideku {rw.duplicate} jawab")
        assert replies[0].text == ID("my_ideas.not_yours"), person
    replies = await chat.say("asn", "/ideku 999999 jawab")
    assert replies[0].text == ID("my_ideas.not_yours")
    assert [r.answer for r in await rounds(rw)] == [None]


async def test_bad_input_keeps_the_question(rw: ReviewWorld) -> None:
    chat = rw.chat
    await ask(rw)
    await chat.say("asn", f"/ideku {rw.duplicate} jawab")
    replies = await chat.say("asn", None, unsupported="sticker")
    assert replies[0].text == ID("input.unsupported")
    photo = Attachment("photo", chat.core.settings.data_dir / "x.jpg", "x.jpg", "image/jpeg", 10)
    replies = await chat.attach("asn", photo)
    assert replies[0].text == ID("input.text_expected")
    replies = await chat.say("asn", "   ")
    assert asked(rw) in chat.text("asn")
    long = "x" * 4000
    replies = await chat.say("asn", long)
    assert replies[0].text == ID("clarify.too_long", limit="3.000", length="4.000")
    assert [r.answer for r in await rounds(rw)] == [None]
    exact = "y" * MAX_ANSWER_CHARS
    await chat.say("asn", exact)
    assert [r.answer for r in await rounds(rw)] == [exact]
    [told] = await outbox(rw, "clarify_answer")
    assert exact in told.payload["replies"][0]["text"]
    assert len(told.payload["template"]["parameters"][3]) <= 300


async def test_cancel_then_answer_later(rw: ReviewWorld) -> None:
    chat = rw.chat
    await ask(rw)
    await chat.say("asn", f"/ideku {rw.duplicate} jawab")
    replies = await chat.press("asn", "cl:cancel")
    assert replies[0].text == ID("clarify.cancelled", id=rw.duplicate)
    assert [r.answer for r in await rounds(rw)] == [None]
    assert await outbox(rw, "clarify_answer") == []


async def test_a_collaborator_answers_and_every_reviewer_who_asked_is_told(
    rw: ReviewWorld,
) -> None:
    chat = rw.chat
    await add_collaborator(rw, rw.duplicate, "admin")
    await ask(rw, "coordinator", "Berapa biayanya?")
    await ask(rw, "bappeda")
    await set_locale(rw, "coordinator", "en")
    # The admin collaborates on the idea: they may answer, and are not told their own answer.
    await chat.say("admin", f"/ideku {rw.duplicate} jawab")
    await chat.say("admin", ANSWER)
    assert [(r.answer, r.answered_by_id) for r in await rounds(rw)] == [
        (ANSWER, rw.world.users["admin"]),
        (ANSWER, rw.world.users["admin"]),
    ]
    told = {m.recipient: m for m in await outbox(rw, "clarify_answer")}
    assert set(told) == {"coordinator", "bappeda"}
    english = told["coordinator"].payload["replies"][0]
    assert english["text"].startswith(
        f"Dewi Lestari answered the question about idea #{rw.duplicate}"
    )
    assert english["choices"][0]["title"] == EN("clarify.open_idea")
    assert len({m.key for m in told.values()}) == 2
    # The owner sees who answered in the detail.
    detail = await chat.say("asn", f"/ideku {rw.duplicate}")
    assert "Dewi Lestari" in detail[0].text and ANSWER in detail[0].text


async def test_a_question_asked_before_the_rounds_were_kept(rw: ReviewWorld) -> None:
    """An idea that waits with only its question (asked before migration 0013): the answer is
    still kept beside it, and the OPD's coordinators are told, as nobody is recorded."""
    from tests.test_owner_actions import _update

    await _update(rw.world, rw.duplicate, status_reason="Mohon jelaskan biayanya.")
    await rw.chat.say("asn", f"/ideku {rw.duplicate} jawab")
    await rw.chat.say("asn", ANSWER)
    [row] = await rounds(rw)
    assert (row.question, row.answer, row.asked_by_id) == ("Mohon jelaskan biayanya.", ANSWER, None)
    assert [m.recipient for m in await outbox(rw, "clarify_answer")] == ["coordinator"]
