"""``/rencana``: milestones by month and a launch date, by the idea's owner or collaborators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from bot.config import Settings
from handlers.dates import parse_day, parse_month
from handlers.messages import Attachment
from storage.models import Stage
from tests.calendar_helpers import (
    BUDI_NIP,
    IDEA,
    OTHER_IDEA,
    OTHER_PROBLEM,
    PROBLEM,
    add_collaborator,
    add_milestone,
    core_at_now,
    idea_row,
    latest_idea_id,
    milestones,
    set_stage,
)
from tests.chat import ID, ChatDriver


@pytest.fixture
async def chat(settings: Settings) -> AsyncIterator[ChatDriver]:
    async with core_at_now(settings) as core:
        yield ChatDriver(core)


async def _rina_with_an_idea_in_design(chat: ChatDriver) -> int:
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", PROBLEM, IDEA)
    idea_id = await latest_idea_id(chat.core)
    await set_stage(chat.core, idea_id, Stage.DESIGN)
    return idea_id


async def _plan_shown(chat: ChatDriver, person: str, idea_id: int, name: str) -> None:
    assert ID("plan.title", id=idea_id, name=name) in chat.text(person), chat.text(person)
    assert ID("plan.question") in chat.text(person)


@pytest.mark.parametrize(
    ("typed", "month"),
    [
        ("Maret 2027", date(2027, 3, 1)),
        ("mar 2027", date(2027, 3, 1)),
        ("03/2027", date(2027, 3, 1)),
        ("3-2027", date(2027, 3, 1)),
        ("2027-03", date(2027, 3, 1)),
        ("August 2027", date(2027, 8, 1)),
        ("agustus 2027", date(2027, 8, 1)),
        ("Mei 2027", date(2027, 5, 1)),
        ("dec 2027", date(2027, 12, 1)),
        ("13/2027", None),
        ("Maret", None),
        ("bulan depan", None),
    ],
)
def test_months_are_read_as_people_type_them(typed: str, month: date | None) -> None:
    assert parse_month(typed) == month


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("15 Juli 2027", date(2027, 7, 15)),
        ("15 july 2027", date(2027, 7, 15)),
        ("15/07/2027", date(2027, 7, 15)),
        ("2027-07-15", date(2027, 7, 15)),
        ("15-7-2027", date(2027, 7, 15)),
        ("31/02/2027", None),
        ("15 Jul", None),
        ("besok", None),
    ],
)
def test_days_are_read_as_people_type_them(typed: str, day: date | None) -> None:
    assert parse_day(typed) == day


async def test_an_owner_adds_milestones_and_a_launch_date(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await chat.say("rina", "/rencana")  # one idea: straight to its plan
    await _plan_shown(chat, "rina", idea_id, "SI-JEMPOL")
    assert ID("plan.empty") in chat.text("rina")

    await chat.press("rina", "plan:add")
    assert chat.text("rina").startswith(ID("plan.ask_month"))
    await chat.say("rina", "Mei 2027")
    assert ID("plan.ask_activity", month="Mei 2027") in chat.text("rina")
    await chat.say("rina", "Uji coba layanan di dua kecamatan")
    assert ID("plan.added", month="Mei 2027") in chat.text("rina")

    await chat.press("rina", "plan:add")
    await chat.say("rina", "04/2027")
    await chat.say("rina", "Pengadaan alat perekaman portabel")

    await chat.press("rina", "plan:launch")
    await chat.say("rina", "15 Juli 2027")
    assert ID("plan.launch_saved", date="15 Juli 2027") in chat.text("rina")
    plan = chat.text("rina")
    # Sorted by month, whatever order they were added in.
    assert plan.index("April 2027") < plan.index("Mei 2027")
    assert ID("plan.launch", date="15 Juli 2027") in plan

    replies = await chat.press("rina", "plan:done")
    assert replies[0].text == ID("plan.finished")
    assert await milestones(chat.core, idea_id) == [
        (date(2027, 4, 1), "Pengadaan alat perekaman portabel"),
        (date(2027, 5, 1), "Uji coba layanan di dua kecamatan"),
    ]
    assert (await idea_row(chat.core, idea_id)).launch_date == date(2027, 7, 15)


async def test_a_month_in_the_past_is_refused_and_this_month_is_fine(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await chat.say("rina", "/rencana")
    await chat.press("rina", "plan:add")
    replies = await chat.say("rina", "Februari 2027")
    assert replies[0].text == ID("plan.month_past", month="Februari 2027")
    assert replies[-1].text.startswith(ID("plan.ask_month"))
    await chat.say("rina", "Maret 2027")
    await chat.say("rina", "Rapat koordinasi tim")
    assert await milestones(chat.core, idea_id) == [(date(2027, 3, 1), "Rapat koordinasi tim")]


async def test_a_launch_date_in_the_past_is_refused_and_today_is_fine(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await chat.say("rina", "/rencana")
    await chat.press("rina", "plan:launch")
    replies = await chat.say("rina", "9/3/2027")
    assert replies[0].text == ID("plan.day_past", date="9 Maret 2027")
    assert (await idea_row(chat.core, idea_id)).launch_date is None
    replies = await chat.say("rina", "tanggal lima belas")
    assert replies[0].text == ID("plan.day_invalid")
    await chat.say("rina", "10-3-2027")
    assert (await idea_row(chat.core, idea_id)).launch_date == date(2027, 3, 10)


async def test_bad_input_gets_a_clear_answer_and_loses_nothing(
    chat: ChatDriver, tmp_path: Path
) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await chat.say("rina", "/rencana")
    await chat.press("rina", "plan:add")
    photo = tmp_path / "foto.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    replies = await chat.attach("rina", Attachment("photo", photo, "foto.jpg", "image/jpeg", 3))
    assert replies[0].text == ID("plan.month_expected")
    replies = await chat.say("rina", None)
    assert replies[0].text == ID("plan.month_expected")
    for nonsense in ("🗓️🙂", "x" * 4000):
        replies = await chat.say("rina", nonsense)
        assert replies[0].text == ID("plan.month_invalid")
        assert replies[-1].text.startswith(ID("plan.ask_month"))

    await chat.say("rina", "Juni 2027")
    replies = await chat.say("rina", "👍👍")
    assert replies[0].text == ID("plan.activity_too_short", minimum=5)
    replies = await chat.say("rina", "a" * 4000)
    assert replies[0].text == ID("plan.too_long", limit=1000, length=4000)
    replies = await chat.attach("rina", Attachment("photo", photo, "foto.jpg", "image/jpeg", 3))
    assert replies[0].text == ID("input.text_expected")
    # The month typed before all that is still there.
    assert replies[-1].text.startswith(ID("plan.ask_activity", month="Juni 2027"))
    await chat.say("rina", "Sosialisasi ke kelurahan")
    assert await milestones(chat.core, idea_id) == [(date(2027, 6, 1), "Sosialisasi ke kelurahan")]


async def test_a_milestone_is_changed_or_removed(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await add_milestone(chat.core, idea_id, date(2027, 4, 1), "Pengadaan alat")
    await add_milestone(chat.core, idea_id, date(2027, 5, 1), "Uji coba")
    await chat.say("rina", "/rencana")

    await chat.press("rina", "plan:change")
    assert ID("plan.ask_change") in chat.text("rina")
    await chat.pick("rina", "Mei 2027")
    assert ID("plan.current_value", value="Mei 2027") in chat.text("rina")
    await chat.press("rina", "plan:keep")  # same month
    assert ID("plan.current_value", value="Uji coba") in chat.text("rina")
    await chat.say("rina", "Uji coba di tiga kecamatan")
    assert ID("plan.changed", month="Mei 2027") in chat.text("rina")

    await chat.press("rina", "plan:remove")
    await chat.pick("rina", "April 2027")
    assert ID("plan.removed", month="April 2027") in chat.text("rina")
    assert await milestones(chat.core, idea_id) == [
        (date(2027, 5, 1), "Uji coba di tiga kecamatan")
    ]


async def test_someone_elses_idea_is_refused_without_revealing_it(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await chat.register("budi", name="Budi Santoso", nip=BUDI_NIP)
    for command in (f"/rencana {idea_id}", "/rencana 99999", "/plan 99999999999999"):
        replies = await chat.say("budi", command)
        assert [r.text for r in replies] == [ID("plan.not_yours")], command
    assert "SI-JEMPOL" not in chat.text("budi")
    assert await milestones(chat.core, idea_id) == []


async def test_a_collaborator_may_change_the_plan(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await chat.register("budi", name="Budi Santoso", nip=BUDI_NIP)
    await add_collaborator(chat.core, idea_id, "budi")
    await chat.press("budi", f"/rencana {idea_id}")  # a reminder's button
    await _plan_shown(chat, "budi", idea_id, "SI-JEMPOL")
    await chat.press("budi", "plan:add")
    await chat.say("budi", "2027-07")
    await chat.say("budi", "Peluncuran layanan")
    assert await milestones(chat.core, idea_id) == [(date(2027, 7, 1), "Peluncuran layanan")]


async def test_with_several_ideas_the_person_picks_one(chat: ChatDriver) -> None:
    first = await _rina_with_an_idea_in_design(chat)
    await chat.submit_idea("rina", "PUSTAKA KILAT", OTHER_PROBLEM, OTHER_IDEA)
    second = await latest_idea_id(chat.core)
    await set_stage(chat.core, second, Stage.DELIVER)
    await chat.say("rina", "/rencana")
    assert ID("plan.ask_idea") in chat.text("rina")
    offered = {c.payload for c in chat.choices("rina")}
    assert offered == {f"pick:{first}", f"pick:{second}"}
    await chat.say("rina", f"#{second}")
    await _plan_shown(chat, "rina", second, "PUSTAKA KILAT")


async def test_no_ideas_yet_is_explained(chat: ChatDriver) -> None:
    await chat.register("rina")
    replies = await chat.say("rina", "/plan")
    assert replies[0].text == ID("plan.no_ideas")


async def test_a_restart_keeps_the_month_typed(settings: Settings) -> None:
    async with core_at_now(settings) as before:
        chat = ChatDriver(before)
        idea_id = await _rina_with_an_idea_in_design(chat)
        await chat.say("rina", "/rencana")
        await chat.press("rina", "plan:add")
        await chat.say("rina", "Agustus 2027")
    async with core_at_now(settings) as after:
        chat = ChatDriver(after)
        await chat.say("rina", "Evaluasi tengah tahun")
        assert await milestones(after, idea_id) == [(date(2027, 8, 1), "Evaluasi tengah tahun")]


async def test_a_photo_or_nothing_where_the_launch_date_is_asked(
    chat: ChatDriver, tmp_path: Path
) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await chat.say("rina", "/rencana")
    await chat.press("rina", "plan:launch")
    photo = tmp_path / "foto.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    replies = await chat.attach("rina", Attachment("photo", photo, "foto.jpg", "image/jpeg", 3))
    assert replies[0].text == ID("plan.day_expected")
    replies = await chat.say("rina", "  ")
    assert replies[0].text == ID("plan.day_expected")
    assert replies[-1].text.startswith(ID("plan.ask_launch"))
    await chat.say("rina", "2027-07-15")
    assert (await idea_row(chat.core, idea_id)).launch_date == date(2027, 7, 15)


async def test_a_removed_milestones_old_button_changes_nothing(chat: ChatDriver) -> None:
    idea_id = await _rina_with_an_idea_in_design(chat)
    await add_milestone(chat.core, idea_id, date(2027, 4, 1), "Pengadaan alat")
    await chat.say("rina", "/rencana")
    await chat.press("rina", "plan:remove")
    old_button = chat.payload("rina", "April 2027")
    await chat.press("rina", old_button)
    await chat.press("rina", "plan:add")
    replies = await chat.press("rina", old_button)
    assert replies[0].text == ID("input.stale_button")
    assert await milestones(chat.core, idea_id) == []
