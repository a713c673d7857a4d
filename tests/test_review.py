"""``/tinjau``: the review queue and every reviewer's action, through the real core.

Scope (a coordinator sees and reaches only their OPDs), state (a button pressed twice, from an
old message or after another reviewer acted changes nothing), audit rows with before and
after, and the notices to the idea's people in their own language.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import admin_cli
from handlers.messages import Attachment
from storage.models import IdeaAttachment, IdeaStatus, Stage
from tests.chat import EN, ID, ChatDriver
from tests.review_world import (
    PROBLEM,
    SIMILAR_IDEA,
    SIMILAR_PROBLEM,
    ReviewWorld,
    add_collaborator,
    audit_of,
    build_review_world,
    collaborators,
    idea,
    outbox,
    set_locale,
)
from tests.roles_world import PEOPLE


@pytest.fixture
async def rw(chat: ChatDriver) -> ReviewWorld:
    return await build_review_world(chat)


def queue_ids(chat: ChatDriver, person: str) -> list[int]:
    return [
        int(c.payload.removeprefix("rv:open:"))
        for c in chat.choices(person)
        if c.payload.startswith("rv:open:")
    ]


# -- the queue ------------------------------------------------------------------------------


async def test_each_role_sees_the_queue_of_its_own_opds(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", "/tinjau")
    # The possible duplicate first, marked; the other OPD's idea absent.
    assert queue_ids(chat, "coordinator") == [rw.duplicate, rw.first]
    text = chat.text("coordinator")
    assert ID("review.queue_title", count=2) in text
    assert (
        f"#{rw.duplicate} JEMPUT LANSIA (Dinkes, Rina Marlina) " + ID("review.flag_duplicate")
        in text
    )
    assert "KTP KELILING" not in text and "SIGIZI" not in text  # reviewed already

    await chat.say("other_coordinator", "/tinjau")
    assert rw.other_opd in queue_ids(chat, "other_coordinator")
    assert rw.first not in queue_ids(chat, "other_coordinator")
    assert "JEMPOL" not in chat.text("other_coordinator")

    for person in ("bappeda", "admin"):
        await chat.say(person, "/review")  # the English alias
        ids = queue_ids(chat, person)
        assert ids[0] == rw.duplicate and {rw.first, rw.other_opd} <= set(ids)

    assert (await chat.say("asn", "/tinjau"))[0].text == ID("access.denied")
    assert (await chat.say("newcomer", "/tinjau"))[0].text == ID("access.register_first")


async def test_the_detail_shows_owner_matches_and_what_was_continued_past(
    rw: ReviewWorld,
) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    text = chat.text("coordinator")
    assert text.startswith(ID("review.detail_title", id=rw.duplicate, name="JEMPUT LANSIA"))
    assert f"{ID('review.field.owner')}: Rina Marlina" in text
    assert f"{ID('field.opd')}: Dinas Kesehatan" in text
    # The idea the submitter was warned about, with the score they saw.
    assert ID("review.continued_past", ideas=f"#{rw.first} SI-JEMPOL (") in text
    assert f"#{rw.first} SI-JEMPOL (Dinkes, tahap Diagnose), kemiripan" in text
    payloads = [c.payload for c in chat.choices("coordinator")]
    assert payloads == [
        f"rv:verify:{rw.duplicate}",
        f"rv:reject:{rw.duplicate}",
        f"rv:clarify:{rw.duplicate}",
        f"rv:merge:{rw.duplicate}",
        f"rv:stage:{rw.duplicate}",
        "rv:back",
    ]


async def test_a_match_in_another_opd_is_not_shown_to_a_coordinator(rw: ReviewWorld) -> None:
    from tests.review_world import add_idea

    twin = await add_idea(
        rw.world, "other_coordinator", "Disdukcapil", "LANSIA DIJEMPUT", PROBLEM, SIMILAR_IDEA
    )
    await rw.chat.say("coordinator", f"/tinjau {rw.first}")
    assert "LANSIA DIJEMPUT" not in rw.chat.text("coordinator")
    await rw.chat.say("bappeda", f"/tinjau {rw.first}")
    assert f"#{twin} LANSIA DIJEMPUT (Disdukcapil" in rw.chat.text("bappeda")


# -- verify, reject, clarify -----------------------------------------------------------------


async def test_verify_tells_an_english_owner_in_english_and_is_audited(rw: ReviewWorld) -> None:
    chat = rw.chat
    await set_locale(rw, "asn", "en")
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    verify = f"rv:verify:{rw.duplicate}"
    replies = await chat.press("coordinator", verify)
    assert replies[0].text.startswith(ID("review.verified", id=rw.duplicate, name="JEMPUT LANSIA"))
    assert rw.duplicate not in queue_ids(chat, "coordinator")  # back at the queue, without it
    row = await idea(rw, rw.duplicate)
    assert row.status is IdeaStatus.VERIFIED
    assert row.reviewed_at is not None and row.reviewed_by_id == rw.world.users["coordinator"]

    [notice] = await outbox(rw, "review_notice")
    assert (notice.channel, notice.recipient) == ("terminal", "asn")
    assert notice.payload["replies"][0]["text"] == EN(
        "review.told_verified", id=rw.duplicate, idea="JEMPUT LANSIA", by="Budi Santoso"
    )
    assert notice.payload["template"] == {
        "purpose": "review_update",
        "parameters": ["Rina Marlina", "JEMPUT LANSIA", EN("review.outcome.verified")],
    }
    [entry] = await audit_of(rw, rw.duplicate)
    assert (entry.action, entry.actor, entry.actor_id) == (
        "review.verify",
        f"Budi Santoso ({PEOPLE['coordinator'][1]})",
        rw.world.users["coordinator"],
    )
    assert entry.before == {"status": "submitted", "stage": "diagnose", "merged_into": None}
    assert entry.after == {"status": "verified", "stage": "diagnose", "merged_into": None}

    # Pressed again from the old message: refused, nothing done twice.
    again = await chat.press("coordinator", verify)
    assert again[0].text == ID("input.stale_button")
    assert len(await audit_of(rw, rw.duplicate)) == 1
    assert len(await outbox(rw, "review_notice")) == 1


@pytest.mark.parametrize(
    "reason",
    [
        "Sudah ada inovasi serupa di Dinkes 🙏 <b>tebal</b> *bintang* & _miring_",
        "Alasan panjang. " * 250,  # 4000 characters
    ],
)
async def test_reject_sends_the_reason_as_written(rw: ReviewWorld, reason: str) -> None:
    chat = rw.chat
    reason = reason.strip()
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    await chat.press("coordinator", f"rv:reject:{rw.duplicate}")
    assert ID("review.ask_reason", name="JEMPUT LANSIA") in chat.text("coordinator")
    # A sticker where a reason is asked: explained, and the question stays.
    await chat.say("coordinator", None, unsupported="sticker")
    assert ID("review.ask_reason", name="JEMPUT LANSIA") in chat.text("coordinator")
    replies = await chat.say("coordinator", reason)
    assert replies[0].text.startswith(ID("review.rejected", id=rw.duplicate, name="JEMPUT LANSIA"))
    row = await idea(rw, rw.duplicate)
    assert (row.status, row.status_reason) == (IdeaStatus.REJECTED, reason)
    [notice] = await outbox(rw, "review_notice")
    assert notice.payload["replies"][0]["text"] == ID(
        "review.told_rejected",
        id=rw.duplicate,
        idea="JEMPUT LANSIA",
        by="Budi Santoso",
        reason=reason,
    )
    [entry] = await audit_of(rw, rw.duplicate)
    assert (entry.action, entry.note, entry.after["status"]) == (
        "review.reject",
        reason,
        "rejected",
    )


async def test_clarify_keeps_the_idea_in_the_queue_waiting_for_its_owner(rw: ReviewWorld) -> None:
    chat = rw.chat
    await add_collaborator(rw, rw.duplicate, "admin")
    await chat.say("bappeda", f"/tinjau {rw.duplicate}")
    await chat.press("bappeda", f"rv:clarify:{rw.duplicate}")
    question = "Berapa puskesmas yang akan dilayani?"
    replies = await chat.say("bappeda", question)
    assert replies[0].text == ID("review.clarify_sent", id=rw.duplicate, name="JEMPUT LANSIA")
    row = await idea(rw, rw.duplicate)
    assert (row.status, row.status_reason, row.reviewed_at) == (
        IdeaStatus.SUBMITTED,
        question,
        None,
    )
    assert rw.duplicate in queue_ids(chat, "bappeda")
    assert ID("review.flag_waiting") in chat.text("bappeda")
    # Only the owner is asked (not the collaborator).
    [notice] = await outbox(rw, "clarify_request")
    assert notice.recipient == "asn"
    assert question in notice.payload["replies"][0]["text"]
    # The notice carries the way to answer, and its own template for a closed window.
    [button] = notice.payload["replies"][0]["choices"]
    assert button["payload"] == f"/ideku {rw.duplicate} jawab"
    assert notice.payload["template"]["purpose"] == "clarification_request"
    await chat.say("bappeda", f"/tinjau {rw.duplicate}")
    assert ID("review.waiting_for_owner", question=question) in chat.text("bappeda")
    [entry] = await audit_of(rw, rw.duplicate)
    assert (entry.action, entry.note) == ("review.clarify", question)


async def test_a_reviewer_who_acts_after_another_is_told_it_is_done(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.first}")
    await chat.say("bappeda", f"/tinjau {rw.first}")
    await chat.press("bappeda", f"rv:verify:{rw.first}")
    replies = await chat.press("coordinator", f"rv:reject:{rw.first}")
    assert replies[0].text == ID("review.no_longer", status=ID("status.verified"))
    assert (await idea(rw, rw.first)).status is IdeaStatus.VERIFIED
    assert [e.action for e in await audit_of(rw, rw.first)] == ["review.verify"]


async def test_the_reason_step_rechecks_the_state(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.first}")
    await chat.press("coordinator", f"rv:reject:{rw.first}")
    await chat.say("bappeda", f"/tinjau {rw.first}")
    await chat.press("bappeda", f"rv:verify:{rw.first}")
    replies = await chat.say("coordinator", "Tidak relevan")
    assert replies[0].text == ID("review.no_longer", status=ID("status.verified"))
    assert (await idea(rw, rw.first)).status_reason is None


# -- merge ----------------------------------------------------------------------------------


async def test_merge_makes_the_people_collaborators_and_the_index_forgets_it(
    rw: ReviewWorld,
) -> None:
    chat = rw.chat
    await add_collaborator(rw, rw.duplicate, "admin")
    await add_collaborator(rw, rw.first, "admin")  # already there: not added twice
    database = chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        session.add(
            IdeaAttachment(
                idea_id=rw.duplicate, kind="document", file_name="a.pdf", storage_path="x/a.pdf"
            )
        )
    await chat.say("bappeda", f"/tinjau {rw.duplicate}")
    await chat.press("bappeda", f"rv:merge:{rw.duplicate}")
    assert chat.payload("bappeda", "SI-JEMPOL") == f"rv:into:{rw.first}"
    # Into itself, into an unknown id: explained, nothing done.
    assert (await chat.say("bappeda", str(rw.duplicate)))[0].text == ID("review.merge_self")
    assert (await chat.say("bappeda", "999999"))[0].text == ID("review.not_found")
    await chat.pick("bappeda", "SI-JEMPOL")
    assert ID(
        "review.confirm_merge",
        id=rw.duplicate,
        name="JEMPUT LANSIA",
        target_id=rw.first,
        target="SI-JEMPOL",
    ) in chat.text("bappeda")
    await chat.press("bappeda", "rv:yes")
    merged = await idea(rw, rw.duplicate)
    assert (merged.status, merged.merged_into_id) == (IdeaStatus.MERGED, rw.first)
    users = rw.world.users
    assert await collaborators(rw, rw.first) == sorted([users["asn"], users["admin"]])
    async with database.sessions() as session:
        kept = await session.scalars(select(IdeaAttachment.idea_id))
        assert list(kept) == [rw.duplicate]  # its rows stay, with it
    found = await chat.core.similarity.search("JEMPUT LANSIA", f"{SIMILAR_PROBLEM}\n{SIMILAR_IDEA}")
    assert f"idea:{rw.duplicate}" not in [m.doc_id for m in found]
    assert f"idea:{rw.first}" in [m.doc_id for m in found]
    notices = await outbox(rw, "review_notice")
    assert sorted(n.recipient for n in notices) == ["admin", "asn"]
    [entry] = await audit_of(rw, rw.duplicate)
    assert entry.action == "review.merge"
    assert entry.before["status"] == "submitted"
    assert entry.after == {
        "status": "merged",
        "stage": "diagnose",
        "merged_into": rw.first,
        "collaborators_added": [users["asn"]],
    }
    # The confirmation pressed again, or the merged idea opened: nothing more to do.
    assert (await chat.press("bappeda", "rv:yes"))[0].text == ID("input.stale_button")
    await chat.say("bappeda", f"/tinjau {rw.duplicate}")
    assert [c.payload for c in chat.choices("bappeda")] == ["rv:back"]
    assert ID("review.merged_into", id=rw.first) in chat.text("bappeda")


async def test_a_coordinator_cannot_merge_into_another_opds_idea(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    await chat.press("coordinator", f"rv:merge:{rw.duplicate}")
    other = await chat.say("coordinator", str(rw.other_opd))
    missing = await chat.say("coordinator", "999998")
    assert other[0].text == missing[0].text == ID("review.not_found")
    assert "KTP" not in chat.text("coordinator")
    assert (await idea(rw, rw.duplicate)).status is IdeaStatus.SUBMITTED


async def test_an_inactive_target_is_refused(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("bappeda", f"/tinjau {rw.first}")
    await chat.press("bappeda", f"rv:reject:{rw.first}")
    await chat.say("bappeda", "Ditolak")
    await chat.say("bappeda", f"/tinjau {rw.duplicate}")
    await chat.press("bappeda", f"rv:merge:{rw.duplicate}")
    replies = await chat.say("bappeda", f"#{rw.first}")
    assert replies[0].text == ID("review.merge_inactive", id=rw.first)


# -- stages ---------------------------------------------------------------------------------


async def test_one_idea_moves_stage_and_its_people_are_told(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    await chat.press("coordinator", f"rv:stage:{rw.duplicate}")
    assert "rv:to:diagnose" not in [c.payload for c in chat.choices("coordinator")]
    replies = await chat.press("coordinator", "rv:to:design")
    assert replies[0].text == ID(
        "review.stage_moved", id=rw.duplicate, name="JEMPUT LANSIA", stage="Design"
    )
    assert (await idea(rw, rw.duplicate)).stage is Stage.DESIGN
    [notice] = await outbox(rw, "stage_change")
    assert notice.recipient == "asn" and "Design" in notice.payload["replies"][0]["text"]
    [entry] = await audit_of(rw, rw.duplicate)
    assert (entry.action, entry.before["stage"], entry.after["stage"]) == (
        "review.stage",
        "diagnose",
        "design",
    )


async def test_many_ideas_move_at_once_and_a_changed_one_is_skipped(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("bappeda", "/tinjau tahap")
    await chat.pick("bappeda", "Dinkes")
    await chat.pick("bappeda", "Diagnose")
    ids = [c.payload for c in chat.choices("bappeda") if c.payload.startswith("rv:tog:")]
    assert len(ids) == 4  # SI-JEMPOL, JEMPUT LANSIA and the two background ideas of Dinkes
    await chat.press("bappeda", "rv:all")
    assert all(c.title.startswith("✓ ") for c in chat.choices("bappeda")[:4])
    await chat.press("bappeda", f"rv:tog:{rw.first}")  # one taken off again
    await chat.press("bappeda", "rv:next")
    await chat.press("bappeda", "rv:bto:design")
    assert ID("review.bulk_confirm", count=3, source="Diagnose", target="Design", ideas="")[
        :30
    ] in chat.text("bappeda")
    # Meanwhile a coordinator moves one of them elsewhere.
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    await chat.press("coordinator", f"rv:stage:{rw.duplicate}")
    await chat.press("coordinator", "rv:to:deliver")
    replies = await chat.press("bappeda", "rv:yes")
    assert replies[0].text == ID("review.bulk_done", count=2, stage="Design")
    assert replies[1].text == ID("review.bulk_skipped", count=1)
    assert (await idea(rw, rw.first)).stage is Stage.DIAGNOSE
    assert (await idea(rw, rw.duplicate)).stage is Stage.DELIVER
    stage_rows = [e for e in await audit_of(rw, rw.duplicate)]
    assert [e.after["stage"] for e in stage_rows] == ["deliver"]
    assert (await chat.press("bappeda", "rv:yes"))[0].text == ID("input.stale_button")


async def test_a_coordinator_bulk_moves_only_their_opds(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", "/tinjau tahap")
    assert [c.title for c in chat.choices("coordinator")] == ["Dinkes (4)"]
    # Another OPD's button, forged: the engine never offered it.
    replies = await chat.press("coordinator", f"rv:opd:{rw.world.opds['Disdukcapil']}")
    assert replies[0].text == ID("input.stale_button")


# -- another OPD's idea, forged buttons, lost roles ------------------------------------------


async def test_another_opds_idea_reveals_nothing(rw: ReviewWorld) -> None:
    chat = rw.chat
    other = await chat.say("other_coordinator", f"/tinjau {rw.first}")
    missing = await chat.say("other_coordinator", "/tinjau 2000000000")
    assert other[0].text == missing[0].text == ID("review.not_found")
    assert "JEMPOL" not in chat.text("other_coordinator")
    await chat.say("other_coordinator", f"#{rw.first}")  # typed at the queue
    assert chat.text("other_coordinator").startswith(ID("review.not_found"))
    for action in ("verify", "reject", "clarify", "merge", "stage"):
        replies = await chat.press("other_coordinator", f"rv:{action}:{rw.first}")
        assert replies[0].text == ID("input.stale_button")
        assert "JEMPOL" not in "\n".join(r.text for r in replies)
    assert (await idea(rw, rw.first)).status is IdeaStatus.SUBMITTED
    assert await audit_of(rw, rw.first) == []


async def test_bad_ids_are_explained(rw: ReviewWorld) -> None:
    chat = rw.chat
    for arg in ("abc", "-1", "12a", "٣", "99999999999999999999"):
        replies = await chat.say("coordinator", f"/tinjau {arg}")
        assert replies[0].text in (ID("review.bad_id"), ID("review.not_found")), arg


async def test_a_role_revoked_mid_review_stops_the_next_press(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.first}")
    await chat.say("admin", f"/peran {PEOPLE['coordinator'][1]}")
    await chat.pick("admin", ID("roles.revoke", role=ID("roles.name.coordinator", opd="Dinkes")))
    replies = await chat.press("coordinator", f"rv:verify:{rw.first}")
    assert replies[0].text == ID("access.denied")
    assert (await idea(rw, rw.first)).status is IdeaStatus.SUBMITTED


async def test_opening_another_idea_from_the_review_replaces_it(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.first}")
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    assert ID("flow.already_running") not in chat.text("coordinator")
    assert f"rv:verify:{rw.duplicate}" in [c.payload for c in chat.choices("coordinator")]
    # /batal closes the review like a menu.
    await chat.say("coordinator", "/batal")
    assert ID("flow.menu_closed") in chat.text("coordinator")


async def test_a_review_over_a_draft_keeps_the_draft(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", "/ide")
    await chat.say("coordinator", "DRAF BARU")
    await chat.say("coordinator", "/tinjau")
    await chat.say("coordinator", "/batal")
    assert ID("intake.ask_problem") in chat.text("coordinator")


async def test_the_audit_command_prints_the_review_rows(
    rw: ReviewWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.first}")
    await chat.press("coordinator", f"rv:reject:{rw.first}")
    await chat.say("coordinator", "Sudah ada\tinovasi serupa")
    capsys.readouterr()
    assert await admin_cli.print_audit(chat.core.settings, f"idea:{rw.first}", None, None) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    cells = lines[1].split("\t")
    assert cells[1:5] == [
        f"Budi Santoso ({PEOPLE['coordinator'][1]})",
        "review.reject",
        f"idea:{rw.first}",
        '{"merged_into": null, "stage": "diagnose", "status": "submitted"}',
    ]
    assert cells[6] == "Sudah ada inovasi serupa"


async def test_two_reviewers_pressing_at_once_act_once(rw: ReviewWorld) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    await chat.say("bappeda", f"/tinjau {rw.duplicate}")
    first, second = await asyncio.gather(
        chat.press("coordinator", f"rv:verify:{rw.duplicate}"),
        chat.press("bappeda", f"rv:verify:{rw.duplicate}"),
    )
    texts = sorted([first[0].text, second[0].text])
    assert ID("review.no_longer", status=ID("status.verified")) in texts
    assert len(await audit_of(rw, rw.duplicate)) == 1
    assert len(await outbox(rw, "review_notice")) == 1


async def test_a_directory_entry_is_shown_as_such(rw: ReviewWorld) -> None:
    rw.chat.core.similarity.upsert(
        "dir:7", "JEMPUT LANSIA PUSKESMAS", f"{SIMILAR_PROBLEM}\n{SIMILAR_IDEA}"
    )
    await rw.chat.say("coordinator", f"/tinjau {rw.duplicate}")
    text = rw.chat.text("coordinator")
    line = ID("review.match_directory", number=0, doc="dir:7", score=0)
    assert line[3:-1] in text  # "Dari direktori inovasi (dir:7), kemiripan "
    # A directory entry is no idea to merge into: only ideas are offered.
    await rw.chat.press("coordinator", f"rv:merge:{rw.duplicate}")
    assert [c.payload for c in rw.chat.choices("coordinator")] == [
        f"rv:into:{rw.first}",
        "rv:back",
    ]


async def test_a_merge_into_a_merged_ideas_survivor_repoints_the_chain(rw: ReviewWorld) -> None:
    from tests.review_world import add_idea

    chat = rw.chat
    third = await add_idea(rw.world, "asn", "Dinkes", "LANSIA SEHAT", PROBLEM, SIMILAR_IDEA)
    for source, target in ((rw.duplicate, rw.first), (rw.first, third)):
        await chat.say("bappeda", f"/tinjau {source}")
        await chat.press("bappeda", f"rv:merge:{source}")
        await chat.say("bappeda", f"#{target}")
        await chat.press("bappeda", "rv:yes")
    assert (await idea(rw, rw.duplicate)).merged_into_id == third
    assert (await idea(rw, rw.first)).merged_into_id == third
    # The coordinator (owner of the first) and the ASN (owner of the others) are each
    # collaborators once; the ASN owns the survivor, so only the coordinator is added.
    assert await collaborators(rw, third) == [rw.world.users["coordinator"]]


async def test_a_file_or_nothing_where_a_reason_is_asked(rw: ReviewWorld, tmp_path: Path) -> None:
    chat = rw.chat
    await chat.say("coordinator", f"/tinjau {rw.duplicate}")
    await chat.press("coordinator", f"rv:reject:{rw.duplicate}")
    photo = Attachment(kind="photo", path=tmp_path / "x.jpg", file_name="x.jpg")
    for replies in (await chat.attach("coordinator", photo), await chat.say("coordinator", "  ")):
        assert replies[0].text == ID("input.text_expected")
        assert replies[-1].text == ID("review.ask_reason", name="JEMPUT LANSIA")
    assert (await idea(rw, rw.duplicate)).status is IdeaStatus.SUBMITTED
