"""``/jadwal``: the programme's dates, where today stands, and what is due from this person."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest

from bot.config import Settings
from storage.models import MonitoringReport, Stage
from tests.calendar_helpers import (
    IDEA,
    LAB_2027,
    OTHER_IDEA,
    OTHER_PROBLEM,
    PROBLEM,
    add_milestone,
    add_programme,
    core_at_now,
    latest_idea_id,
    set_stage,
)
from tests.chat import EN, ID, ChatDriver


@pytest.fixture
async def chat(settings: Settings) -> AsyncIterator[ChatDriver]:
    async with core_at_now(settings) as core:
        yield ChatDriver(core)


async def test_without_a_programme_bappeda_has_not_set_it_yet(chat: ChatDriver) -> None:
    await chat.register("rina")
    replies = await chat.say("rina", "/jadwal")
    assert [r.text for r in replies] == [ID("schedule.none")]


async def test_the_stages_their_dates_and_where_today_is(chat: ChatDriver) -> None:
    await add_programme(chat.core)
    await chat.register("rina")
    await chat.say("rina", "/jadwal")
    text = chat.text("rina")
    assert ID("schedule.title", name="Laboratorium Inovasi 2027") in text
    design = ID("schedule.stage", stage="Design", starts="1 Maret 2027", ends="31 Mei 2027")
    assert design + " " + ID("schedule.now_marker") in text
    assert (
        ID("schedule.stage", stage="Display", starts="1 November 2027", ends="30 November 2027")
        in text
    )
    assert ID("schedule.now_in", stage="Design") in text
    assert ID("schedule.no_ideas") in text


async def test_before_the_programme_starts(chat: ChatDriver) -> None:
    later = {s: (a.replace(year=2028), b.replace(year=2028)) for s, (a, b) in LAB_2027.items()}
    await add_programme(chat.core, "Laboratorium Inovasi 2028", later)
    await chat.register("rina")
    await chat.say("rina", "/schedule")
    assert ID("schedule.before", date="4 Januari 2028") in chat.text("rina")


async def test_a_design_idea_owes_its_plan_and_launch_date(chat: ChatDriver) -> None:
    await add_programme(chat.core)
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", PROBLEM, IDEA)
    idea_id = await latest_idea_id(chat.core)
    await set_stage(chat.core, idea_id, Stage.DESIGN)
    await chat.say("rina", "/jadwal")
    text = chat.text("rina")
    assert ID("schedule.idea", id=idea_id, name="SI-JEMPOL", stage="Design") in text
    plan = ID("schedule.output.action_plan")
    launch = ID("schedule.output.launch_date")
    assert ID("schedule.output_missing", output=plan, date="31 Mei 2027") in text
    # The launch date is due the day before Deliver starts.
    assert ID("schedule.output_missing", output=launch, date="31 Mei 2027") in text
    assert [c.payload for c in chat.choices("rina")] == [f"/rencana {idea_id}"]

    await add_milestone(chat.core, idea_id, date(2027, 4, 1), "Pengadaan alat")
    await chat.say("rina", "/jadwal")
    assert ID("schedule.output_done", output=plan, date="31 Mei 2027") in chat.text("rina")
    assert ID("schedule.output_missing", output=launch, date="31 Mei 2027") in chat.text("rina")

    await chat.pick("rina", "Rencana")  # the button opens the plan
    assert ID("plan.title", id=idea_id, name="SI-JEMPOL") in chat.text("rina")


async def test_a_deliver_idea_owes_this_months_report(chat: ChatDriver) -> None:
    await add_programme(chat.core)
    await chat.register("rina")
    await chat.submit_idea("rina", "SI-JEMPOL", PROBLEM, IDEA)
    idea_id = await latest_idea_id(chat.core)
    await set_stage(chat.core, idea_id, Stage.DELIVER)
    await chat.submit_idea("rina", "PUSTAKA KILAT", OTHER_PROBLEM, OTHER_IDEA)
    await chat.say("rina", "/jadwal")
    text = chat.text("rina")
    assert ID("schedule.report_missing", month="Maret 2027") in text
    assert ID("schedule.nothing_due") in text  # the Diagnose idea owes nothing yet
    assert f"/lapor {idea_id}" in [c.payload for c in chat.choices("rina")]

    async with chat.core.database.sessions() as session, session.begin():
        session.add(
            MonitoringReport(
                idea_id=idea_id, period="2027-03", progress=50, done="x", next_step="y"
            )
        )
    await chat.say("rina", "/jadwal")
    assert ID("schedule.report_done", month="Maret 2027") in chat.text("rina")
    assert f"/lapor {idea_id}" not in [c.payload for c in chat.choices("rina")]


async def test_dates_are_shown_in_english_too(chat: ChatDriver) -> None:
    await add_programme(chat.core)
    await chat.register("rina")
    await chat.say("rina", "/bahasa en")
    await chat.say("rina", "/schedule")
    stage = EN(
        "schedule.stage", stage=EN("stage.design"), starts="1 March 2027", ends="31 May 2027"
    )
    assert stage in chat.text("rina")


async def test_the_main_menu_offers_the_schedule(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/bantuan")
    assert "/jadwal" in [c.payload for c in chat.choices("rina")]
