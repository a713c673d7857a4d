"""Wording that read as jargon, cryptic or casual (issue 12.5): what people read now."""

from __future__ import annotations

from tests.chat import EN, ID, ChatDriver


def test_the_idea_question_asks_what_will_be_done_and_how_it_differs() -> None:
    assert "pokok perubahan" not in ID("intake.ask_idea")
    assert "dilakukan" in ID("intake.ask_idea") and "sekarang" in ID("intake.ask_idea")


def test_a_bad_birth_date_in_a_nip_shows_an_example() -> None:
    for t in (ID, EN):
        assert "TTTTBBHH" not in t("nip.bad_birth_date")
        assert "19910708" in t("nip.bad_birth_date")


def test_no_ideas_yet_is_said_in_a_formal_register() -> None:
    assert "Ayo" not in ID("my_ideas.none")
    assert "/ide" in ID("my_ideas.none")


def test_large_numbers_are_grouped_as_the_language_writes_them() -> None:
    assert ID.number(4096) == "4.096"
    assert EN.number(4096) == "4,096"


async def test_the_implementing_opd_is_asked_for_as_such(chat: ChatDriver) -> None:
    from tests.test_intake import _up_to_the_opd_question

    await _up_to_the_opd_question(chat)
    await chat.press("rina", "opd:other")
    replies = await chat.say("rina", "arsip")
    assert replies[-1].text.startswith(ID("intake.opd_results", query="arsip", count=1)[:30])
    assert "OPD pelaksana" in replies[-1].text
    assert "Pilih OPD Anda" not in replies[-1].text
