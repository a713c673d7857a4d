"""Coming back to a conversation: after a restart or a long break the pending question is shown
again before a message is taken as its answer (issue 12.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import open_core
from bot.config import Settings
from tests.chat import ID, ChatDriver
from tests.test_terminal import run_bot

GREETING = "Selamat pagi, saya kembali lagi"  # long enough to pass as a problem statement
PROBLEM = "Antrean di loket perpustakaan daerah panjang saat jam istirahat sekolah."


async def _at_the_problem_question(chat: ChatDriver) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    await chat.say("rina", "PUSTAKA KILAT")
    assert chat.last["rina"][-1].text == ID("intake.ask_problem")


async def test_after_a_restart_a_greeting_is_answered_with_the_pending_question(
    chat: ChatDriver, settings: Settings
) -> None:
    await _at_the_problem_question(chat)
    async with open_core(settings, migrate=False) as restarted:
        again = ChatDriver(restarted)
        replies = await again.say("rina", GREETING)
        assert replies[0].text == ID("flow.welcome_back")
        assert replies[-1].text == ID("intake.ask_problem")
        # Now the question is in sight: the next message answers it.
        replies = await again.say("rina", PROBLEM)
        assert replies[-1].text == ID("intake.ask_idea")
        await again.say("rina", "/ide")  # already running: shows the draft's progress
        assert ID("flow.already_running") in again.text("rina")


async def test_after_a_restart_a_pressed_button_still_answers(
    chat: ChatDriver, settings: Settings
) -> None:
    await chat.register("rina")
    await chat.say("rina", "/ide")
    for text in ("PUSTAKA KILAT", PROBLEM, "Peminjaman buku mandiri di mesin swalayan."):
        await chat.say("rina", text)
    for text in ("Tujuan", "Manfaat", "Siswa"):
        await chat.say("rina", text)
    assert chat.last["rina"][-1].text == ID("intake.ask_digital")
    async with open_core(settings, migrate=False) as restarted:
        again = ChatDriver(restarted)
        replies = await again.press("rina", "digital:yes")
        assert replies[-1].text == ID("intake.ask_form")
    async with open_core(settings, migrate=False) as restarted:
        again = ChatDriver(restarted)
        replies = await again.say("rina", "2")  # a typed number of an offered choice
        assert ID("flow.welcome_back") not in again.text("rina")
        assert replies[-1].text.startswith(ID("intake.ask_affair"))


async def test_after_a_long_break_the_question_is_shown_again(chat: ChatDriver) -> None:
    offset = [timedelta(0)]
    start = datetime.now(UTC)
    chat.core.engine.clock = lambda: start + offset[0]
    await _at_the_problem_question(chat)
    offset[0] = timedelta(hours=5)
    replies = await chat.say("rina", GREETING)
    assert [r.text for r in replies] == [ID("flow.welcome_back"), ID("intake.ask_problem")]
    replies = await chat.say("rina", PROBLEM)
    assert replies[-1].text == ID("intake.ask_idea")


async def test_a_short_pause_does_not_interrupt(chat: ChatDriver) -> None:
    offset = [timedelta(0)]
    start = datetime.now(UTC)
    chat.core.engine.clock = lambda: start + offset[0]
    await _at_the_problem_question(chat)
    offset[0] = timedelta(minutes=40)
    replies = await chat.say("rina", PROBLEM)
    assert [r.text for r in replies] == [ID("intake.ask_idea")]


def test_the_terminal_shows_the_pending_question_after_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "sasi.db"
    first = tmp_path / "first.txt"
    first.write_text(
        "/as tono\n/mulai\nTono Wibowo\n199107082019031005\nkesehatan\n1\nPerawat\n"
        "/ide\nPUSTAKA KILAT\n"
    )
    out = run_bot(tmp_path, first, database)
    assert ID("intake.ask_problem") in out
    second = tmp_path / "second.txt"
    second.write_text(f"/as tono\nhalo\n{PROBLEM}\n")
    out = run_bot(tmp_path, second, database)
    after_halo = out.split("[tono] > halo", 1)[1]
    assert ID("flow.welcome_back") in after_halo
    assert ID("intake.ask_problem") in after_halo.split(f"[tono] > {PROBLEM}", 1)[0]
    assert ID("intake.ask_idea") in out.split(f"[tono] > {PROBLEM}", 1)[1]
