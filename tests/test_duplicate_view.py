"""At the duplicate question the submitter can open a shown idea before choosing (issue 14.4)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from handlers.ports import SimilarityService, SimilarMatch
from storage.models import Idea, IdeaCollaborator
from tests.chat import ID, ChatDriver
from tests.test_intake import JEMPUT_IDEA, JEMPUT_PROBLEM

OWNER_NIP = "199107082019032012"


async def _at_the_question(chat: ChatDriver) -> Idea:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", JEMPUT_PROBLEM, JEMPUT_IDEA)
    await chat.register(
        "budi", "Budi Santoso", "198503142010011004", "dukcapil", "Disdukcapil", "Analis"
    )
    await chat.say("budi", "/ide")
    await chat.say("budi", "LAKON DUKCAPIL")
    await chat.say("budi", JEMPUT_PROBLEM)
    await chat.say("budi", JEMPUT_IDEA)
    assert ID("dup.question") in chat.text("budi")
    async with chat.core.database.sessions() as session:
        [idea] = list((await session.scalars(select(Idea))).unique())
    return idea


async def test_a_shown_idea_opens_and_the_same_question_follows(chat: ChatDriver) -> None:
    original = await _at_the_question(chat)
    replies = await chat.press("budi", "dup:view:1")
    detail, question = replies[0].text, replies[-1]
    assert ID("my_ideas.detail_title", id=original.id, name="SI-JEMPOL") in detail
    assert f"{ID('field.opd')}: Dinas Kesehatan" in detail
    assert f"{ID('field.stage')}: {ID('stage.diagnose')}" in detail
    assert f"{ID('field.status')}: {ID('status.submitted')}" in detail
    assert JEMPUT_PROBLEM[:40] in detail
    # What an ASN may see of another's idea: nothing about its people.
    assert "Rina" not in detail and OWNER_NIP not in detail
    assert len(detail) < 1000
    assert ID("dup.question") in question.text
    assert "dup:join:1" in [c.payload for c in question.choices]
    # Typed instead of pressed, as a terminal or a person who prefers typing would.
    for typed in ("lihat 1", "#1", "Lihat  1"):
        replies = await chat.say("budi", typed)
        assert replies[0].text == detail, typed
    replies = await chat.say("budi", "lihat 7")
    assert replies[0].text == ID("dup.no_such_match", last=1)
    assert ID("dup.question") in replies[-1].text
    # The draft is intact: continuing keeps the three answers already given.
    await chat.press("budi", "dup:continue")
    assert chat.last["budi"][-1].text == ID("intake.ask_goal")


async def test_view_then_join_asks_for_confirmation_and_joins(chat: ChatDriver) -> None:
    original = await _at_the_question(chat)
    await chat.press("budi", "dup:view:1")
    replies = await chat.press("budi", "dup:join:1")
    assert replies[-1].text == ID(
        "dup.join_confirm", id=original.id, name="SI-JEMPOL", draft="LAKON DUKCAPIL"
    )
    replies = await chat.press("budi", "join:yes")
    assert ID("dup.joined", name="SI-JEMPOL", id=original.id) in replies[0].text
    async with chat.core.database.sessions() as session:
        rows = list(await session.scalars(select(IdeaCollaborator)))
        names = list(await session.scalars(select(Idea.name)))
    assert [r.idea_id for r in rows] == [original.id]
    assert names == ["SI-JEMPOL"]  # the draft was not saved as an idea
    # The joined idea's full detail is now Budi's to see, without the owner's buttons.
    [detail] = await chat.say("budi", f"/ideku {original.id}")
    assert ID("detail.owner_mark", name="Rina Marlina") in detail.text
    assert detail.choices == ()


async def test_join_then_back_returns_to_the_question_with_the_draft(chat: ChatDriver) -> None:
    await _at_the_question(chat)
    await chat.press("budi", "dup:join:1")
    replies = await chat.press("budi", "join:back")
    assert ID("dup.question") in replies[-1].text
    replies = await chat.press("budi", "dup:view:1")
    assert ID("dup.question") in replies[-1].text
    await chat.press("budi", "dup:continue")
    assert chat.last["budi"][-1].text == ID("intake.ask_goal")


class ThreeMatches:
    """The real index, except that every search finds the three ideas: the most ever shown."""

    def __init__(self, inner: SimilarityService, ids: list[int]) -> None:
        self.inner = inner
        self.ids = ids

    async def search(
        self,
        name: str,
        description: str,
        limit: int = 3,
        exclude: Sequence[str] = (),
        *,
        session: object = None,
    ) -> list[SimilarMatch]:
        return [SimilarMatch(f"idea:{i}", 90.0 - n) for n, i in enumerate(self.ids)][:limit]

    def upsert(self, doc_id: str, name: str, description: str) -> None:
        self.inner.upsert(doc_id, name, description)

    def remove(self, doc_id: str) -> None:
        self.inner.remove(doc_id)


async def test_three_matches_fit_in_ten_buttons_and_the_third_opens_typed(
    chat: ChatDriver,
) -> None:
    await chat.register("rina")
    for number, name in enumerate(("SI-JEMPOL", "JEMPUT KTP", "KTP KELILING")):
        await chat.submit_idea(
            "rina", name, JEMPUT_PROBLEM, JEMPUT_IDEA, "dup:continue" if number else None
        )
    async with chat.core.database.sessions() as session:
        ids = list(await session.scalars(select(Idea.id).order_by(Idea.id)))
    chat.core.engine.similarity = ThreeMatches(chat.core.engine.similarity, ids)
    await chat.register(
        "budi", "Budi Santoso", "198503142010011004", "dukcapil", "Disdukcapil", "Analis"
    )
    await chat.say("budi", "/ide")
    await chat.say("budi", "LAKON DUKCAPIL")
    await chat.say("budi", JEMPUT_PROBLEM)
    replies = await chat.say("budi", JEMPUT_IDEA)
    payloads = [c.payload for c in replies[-1].choices]
    assert len(payloads) == 10
    assert [p for p in payloads if p.startswith("dup:view:")] == ["dup:view:1", "dup:view:2"]
    assert {"dup:join:3", "dup:rep:3", "dup:cancel"} <= set(payloads)
    replies = await chat.say("budi", "lihat 3")
    assert replies[0].text.startswith(ID("my_ideas.detail_title", id=ids[2], name="KTP KELILING"))
    assert ID("dup.question") in replies[-1].text
