"""The terminal chat as a newcomer uses it: ``python -m bot run`` with a script piped in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.chat import ID

DATA = Path(__file__).parent / "data" / "terminal"


def run_bot(tmp_path: Path, script: Path, database: Path) -> str:
    """Run the bot in a fresh process with no channel configured, the script as its input."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WHATSAPP_", "SASI_"))
    }
    env.update(
        SASI_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        SASI_ATTACHMENTS_DIR=str(tmp_path / "attachments"),
    )
    with script.open() as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            stdin=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # no stray .env file is read
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_two_asn_a_reworded_idea_and_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "sasi.db"
    first = run_bot(tmp_path, DATA / "two_asn.txt", database)

    # Both registered, in different OPDs.
    assert ID("registration.done", name="Agus Prasetyo") in first
    assert ID("registration.done", name="Sari Handayani") in first
    assert "Dinas Perhubungan" in first and "Dinas Komunikasi dan Informatika" in first
    # The second idea is a reworded first one: Sari is shown Agus's idea before saving hers.
    sari_part = first.split("[sari] > /ide", 1)[1]
    warning = sari_part.split(ID("dup.question"), 1)[0]
    assert "PJU CEPAT" in warning and "Dinas Perhubungan" in warning
    assert ID("intake.saved", id=41, name="PJU CEPAT") in first  # 40 demo ideas come first
    assert ID("intake.saved", id=42, name="LAMPU KITA") in first

    # A new process on the same database: each person's ideas are still theirs.
    second = run_bot(tmp_path, DATA / "after_restart.txt", database)
    agus, sari = second.split("[sari] >", 1)
    assert "PJU CEPAT" in agus and "LAMPU KITA" not in agus
    assert "LAMPU KITA" in sari and "PJU CEPAT" not in sari


def test_comments_and_blank_lines_in_a_script(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("# a comment\n/as tono\n\n/bantuan\n")
    out = run_bot(tmp_path, script, tmp_path / "x.db")
    assert ID("help.newcomer").splitlines()[0] in out
    assert "a comment" not in out


async def test_lampir_with_a_missing_file_says_the_file_was_not_found(tmp_path: Path) -> None:
    import io

    from bot.channels.terminal import TerminalChannel
    from handlers.messages import Incoming, Outcome

    seen: list[Incoming] = []

    async def handle(incoming: Incoming) -> Outcome:
        seen.append(incoming)
        return Outcome()

    out = io.StringIO()
    terminal = TerminalChannel(handle, tmp_path, stdin=io.StringIO(), stdout=out)
    missing = tmp_path / "tidak-ada.pdf"
    await terminal.feed(f"/lampir {missing}")
    assert ID("terminal.file_not_found", path=str(missing)) in out.getvalue()
    assert seen == []  # nothing reached the core, so nothing could be misread there
    present = tmp_path / "ada.pdf"
    present.write_bytes(b"%PDF")
    await terminal.feed(f"/lampir {present}")
    [sent] = seen
    assert [a.file_name for a in sent.attachments] == ["ada.pdf"]
