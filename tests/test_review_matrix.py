"""Every button of ``/tinjau`` as every role, the coordinator of another OPD included.

Written out, not derived: who may press each action on a Dinkes idea, and that everyone else
is refused politely with nothing revealed (not even that the idea exists) and nothing changed.
"""

from __future__ import annotations

import pytest

from storage.models import IdeaStatus, Stage
from tests.chat import ID, ChatDriver
from tests.review_world import ReviewWorld, audit_of, build_review_world, idea
from tests.roles_world import ROLES

# The next question each action leads to, for those allowed.
ACTIONS = {
    "reject": "review.ask_reason",
    "clarify": "review.ask_question",
    "merge": "review.ask_merge",
    "stage": "review.ask_stage",
}
REVIEWERS = frozenset({"coordinator", "bappeda", "admin"})  # of a Dinkes idea
SECRET = ("JEMPOL", "JEMPUT", "LANSIA")  # the Dinkes ideas under review


@pytest.fixture
async def rw(chat: ChatDriver) -> ReviewWorld:
    return await build_review_world(chat)


def revealed(text: str) -> list[str]:
    return [word for word in SECRET if word in text]


@pytest.mark.parametrize("person", ROLES)
async def test_each_action_on_a_dinkes_idea_as_each_role(rw: ReviewWorld, person: str) -> None:
    chat = rw.chat
    target = rw.duplicate
    first = await chat.say(person, f"/tinjau {target}")
    if person not in REVIEWERS:
        refusal = {
            "newcomer": ID("access.register_first"),
            "asn": ID("access.denied"),
            "other_coordinator": ID("review.not_found"),
        }[person]
        assert first[0].text == refusal
        assert not [c for c in chat.choices(person) if c.payload.startswith("rv:verify")]
    else:
        assert first[0].text.startswith(ID("review.detail_title", id=target, name="JEMPUT LANSIA"))
    for action, question in ACTIONS.items():
        replies = await chat.press(person, f"rv:{action}:{target}")
        text = "\n".join(r.text for r in replies)
        if person in REVIEWERS:
            assert ID(question, name="JEMPUT LANSIA", stage="Diagnose") in text, (person, action)
            await chat.press(person, "rv:back")
        else:
            assert replies[0].text == ID("input.stale_button"), (person, action)
            assert revealed(text) == [], (person, action, text)
    replies = await chat.press(person, f"rv:verify:{target}")
    row = await idea(rw, target)
    if person in REVIEWERS:
        assert row.status is IdeaStatus.VERIFIED
        assert [e.action for e in await audit_of(rw, target)] == ["review.verify"]
    else:
        assert replies[0].text == ID("input.stale_button")
        assert (row.status, row.stage) == (IdeaStatus.SUBMITTED, Stage.DIAGNOSE)
        assert await audit_of(rw, target) == []


def _screens() -> list[str]:
    return ["queue", "idea", "merge", "stage", "bulk_opd", "bulk_from", "bulk_pick"]


async def _open(rw: ReviewWorld, screen: str) -> list[str]:
    """Bring Bappeda to ``screen``; return the payloads it offers there."""
    chat, target = rw.chat, rw.duplicate
    if screen.startswith("bulk"):
        await chat.say("bappeda", "/tinjau tahap")
        if screen in ("bulk_from", "bulk_pick"):
            await chat.pick("bappeda", "Dinkes")
        if screen == "bulk_pick":
            await chat.pick("bappeda", "Diagnose")
    else:
        await chat.say("bappeda", "/tinjau" if screen == "queue" else f"/tinjau {target}")
        if screen in ("merge", "stage"):
            await chat.press("bappeda", f"rv:{screen}:{target}")
    return [c.payload for c in chat.choices("bappeda")]


@pytest.mark.parametrize("screen", _screens())
async def test_bappedas_buttons_pressed_by_everyone_else_change_nothing(
    rw: ReviewWorld, screen: str
) -> None:
    chat = rw.chat
    payloads = await _open(rw, screen)
    assert payloads
    for person in ROLES:
        if person == "bappeda":
            continue
        own: set[str] = set()
        if person == "other_coordinator":
            # With their own review open: its buttons are theirs, Bappeda's others are not.
            await chat.say(person, "/tinjau")
            own = {c.payload for c in chat.choices(person)}
        for payload in payloads:
            if payload in own:
                continue
            replies = await chat.press(person, payload)
            text = "\n".join(r.text for r in replies)
            assert replies[0].text == ID("input.stale_button"), (person, payload, text)
            assert revealed(text) == [], (person, payload, text)
    for idea_id in (rw.first, rw.duplicate, rw.other_opd):
        row = await idea(rw, idea_id)
        assert (row.status, row.stage, row.merged_into_id) == (
            IdeaStatus.SUBMITTED,
            Stage.DIAGNOSE,
            None,
        )
        assert await audit_of(rw, idea_id) == []


BAD_INPUT = ["🙏", "<b>x</b> *y*", "0", "#0", "-1", "#99999999999", "9" * 30, "x" * 4000, "٣"]


@pytest.mark.parametrize("screen", [*_screens(), "bulk_to", "bulk_confirm", "merge_confirm"])
async def test_bad_input_on_every_screen_gets_a_polite_answer(rw: ReviewWorld, screen: str) -> None:
    chat = rw.chat
    if screen in ("bulk_to", "bulk_confirm"):
        await _open(rw, "bulk_pick")
        await chat.press("bappeda", "rv:all")
        await chat.press("bappeda", chat.payload("bappeda", "("))
        if screen == "bulk_confirm":
            await chat.press("bappeda", "rv:bto:design")
    elif screen == "merge_confirm":
        await _open(rw, "merge")
        await chat.press("bappeda", f"rv:into:{rw.first}")
    else:
        await _open(rw, screen)
    for text in BAD_INPUT:
        replies = await chat.say("bappeda", text)
        assert replies, (screen, text)
        assert all(ID("error.internal") not in r.text for r in replies), (screen, text)
    await chat.say("bappeda", None, unsupported="sticker")
    assert ID("input.unsupported") in chat.text("bappeda")
    for idea_id in (rw.first, rw.duplicate):
        assert (await idea(rw, idea_id)).status is IdeaStatus.SUBMITTED
