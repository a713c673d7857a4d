"""The calendar's commands through ``python -m bot``'s own ``main``, on a temporary SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.__main__ import main
from bot.calendar import cli as calendar_cli
from bot.config import Settings
from storage.db import Database
from storage.models import (
    ExtraHoliday,
    Idea,
    IdeaCollaborator,
    Identity,
    Programme,
    Stage,
    User,
)
from storage.outbox import OutboxMessage

LAB_2027 = (
    "programme,stage,starts,ends\n"
    "Laboratorium Inovasi 2027,Drum-up,2027-01-04,2027-02-26\n"
    "Laboratorium Inovasi 2027,Diagnosa,01/03/2027,30 April 2027\n"
    "Laboratorium Inovasi 2027,Desain,3 Mei 2027,31 Mei 2027\n"
    "Laboratorium Inovasi 2027,Deliver,2027-06-01,2027-10-29\n"
    "Laboratorium Inovasi 2027,Display,2027-11-01,2027-12-17\n"
)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calendar.db'}"
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("TELEGRAM_BOT_TOKEN", "WHATSAPP_TOKEN", "SASI_LOCALE", "SASI_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SASI_DATABASE_URL", url)
    assert main(["migrate"]) == 0
    return url


def settings(url: str) -> Settings:
    return Settings(database_url=url)


def query(url: str, statement: Any) -> list[Any]:
    async def run() -> list[Any]:
        database = Database(url)
        try:
            async with database.sessions() as session:
                return list((await session.scalars(statement)).unique())
        finally:
            await database.dispose()

    return asyncio.run(run())


def stages_of(url: str, name: str) -> dict[Stage, tuple[date, date]]:
    [programme] = query(url, select(Programme).where(Programme.name == name))
    return {s.stage: (s.starts, s.ends) for s in programme.stages}


def test_import_then_show(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lab.csv"
    path.write_text(LAB_2027, encoding="utf-8")
    assert main(["programme", "import", str(path)]) == 0
    assert "Laboratorium Inovasi 2027: created with 5 stages" in capsys.readouterr().out
    assert stages_of(db_url, "Laboratorium Inovasi 2027")[Stage.DESIGN] == (
        date(2027, 5, 3),
        date(2027, 5, 31),
    )
    assert main(["programme", "import", str(path)]) == 0  # again: nothing changes
    assert "Laboratorium Inovasi 2027: unchanged" in capsys.readouterr().out
    assert main(["programme", "show"]) == 0
    out = capsys.readouterr().out
    assert "Laboratorium Inovasi 2027 (2027-01-04 – 2027-12-17)" in out
    assert "Design    2027-05-03 – 2027-05-31" in out


def test_show_says_which_stage_today_is_in(db_url: str, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "lab.csv"
    path.write_text(LAB_2027, encoding="utf-8")
    assert main(["programme", "import", str(path)]) == 0
    capsys.readouterr()
    for today, where in [
        (date(2027, 5, 10), "today: in Design"),
        (date(2027, 5, 1), "today: between stages"),
        (date(2026, 12, 2), "today: not started (starts 2027-01-04)"),
        (date(2028, 1, 3), "today: finished (ended 2027-12-17)"),
    ]:
        assert asyncio.run(calendar_cli.show_programmes(settings(db_url), today)) == 0
        assert where in capsys.readouterr().out, today
    asyncio.run(calendar_cli.show_programmes(settings(db_url), date(2027, 5, 10)))
    assert "2027-05-03 – 2027-05-31  <- today" in capsys.readouterr().out


def test_an_xlsx_updates_a_stored_programme(db_url: str, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "lab.csv"
    path.write_text(LAB_2027, encoding="utf-8")
    assert main(["programme", "import", str(path)]) == 0
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Program", "Tahap", "Mulai", "Selesai"])
    sheet.append(["laboratorium inovasi 2027", "Design", datetime(2027, 5, 3), date(2027, 5, 28)])
    sheet.append(["Laboratorium Inovasi 2028", "Drum-up", date(2028, 1, 3), date(2028, 2, 25)])
    xlsx = tmp_path / "update.xlsx"
    book.save(xlsx)
    capsys.readouterr()
    assert main(["programme", "import", str(xlsx)]) == 0
    out = capsys.readouterr().out
    assert "Laboratorium Inovasi 2027: updated, 0 stages added, 1 changed" in out
    assert "Laboratorium Inovasi 2028: created with 1 stages" in out
    stored = stages_of(db_url, "Laboratorium Inovasi 2027")
    assert stored[Stage.DESIGN] == (date(2027, 5, 3), date(2027, 5, 28))
    assert len(stored) == 5  # the stages not in the file are kept


def test_a_bad_file_changes_nothing(db_url: str, tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "lab.csv"
    path.write_text(LAB_2027, encoding="utf-8")
    assert main(["programme", "import", str(path)]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "programme,stage,starts,ends\n"
        "Laboratorium Inovasi 2027,Design,2027-05-03,2027-05-21\n"  # valid on its own
        "Laboratorium Inovasi 2028,Drum-up,2027-12-01,2028-01-31\n",  # overlaps 2027
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["programme", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv: row 3: programme 'Laboratorium Inovasi 2028'" in err
    assert "overlaps 'Laboratorium Inovasi 2027' (2027-01-04 – 2027-12-17, row 2)" in err
    # All or nothing: the valid row 2 was not written either.
    assert stages_of(db_url, "Laboratorium Inovasi 2027")[Stage.DESIGN][1] == date(2027, 5, 31)
    assert [p.name for p in query(db_url, select(Programme))] == ["Laboratorium Inovasi 2027"]
    typo = tmp_path / "typo.csv"
    typo.write_text("programme,stage,starts,ends\nLab,Design,2027-05-03,31/13/2027\n")
    assert main(["programme", "import", str(typo)]) == 2
    assert "row 2: ends is not a date: '31/13/2027'" in capsys.readouterr().err


def test_holidays_add_list_remove(db_url: str, capsys: Any) -> None:
    assert main(["holiday", "add", "14/04/2027", "HUT Kabupaten Sukamaju"]) == 0
    assert "closed day added: 2027-04-14 HUT Kabupaten Sukamaju" in capsys.readouterr().out
    assert main(["holiday", "add", "2027-04-14", "HUT Kabupaten ke-80"]) == 0
    assert "closed day updated" in capsys.readouterr().out
    assert main(["holiday", "add", "17 Agustus 2027", "Upacara"]) == 0
    assert "closed anyway: Hari Kemerdekaan" in capsys.readouterr().out
    assert [(h.day, h.reason) for h in query(db_url, select(ExtraHoliday))] == [
        (date(2027, 4, 14), "HUT Kabupaten ke-80"),
        (date(2027, 8, 17), "Upacara"),
    ]
    assert asyncio.run(calendar_cli.list_holidays(settings(db_url), date(2026, 6, 1))) == 0
    out = capsys.readouterr().out
    assert "2027-04-14 Wed  HUT Kabupaten ke-80" in out
    assert "national holidays and cuti bersama, 2026-2027" in out
    assert "2027-08-17 Tue  public holiday  Hari Kemerdekaan Republik Indonesia" in out
    assert "2027-03-09 Tue  cuti bersama    Cuti Bersama Hari Raya Idul Fitri" in out
    assert main(["holiday", "remove", "2027-08-17"]) == 0
    assert "closed day removed: 2027-08-17 Upacara" in capsys.readouterr().out
    assert main(["holiday", "remove", "2027-08-17"]) == 2
    assert "not a day Bappeda added" in capsys.readouterr().err
    assert main(["holiday", "add", "besok", "x"]) == 2
    assert "not a date: 'besok'" in capsys.readouterr().err
    assert main(["holiday", "list"]) == 0  # the real today: only that it runs


def seed_idea(url: str, programme_file: Path | None) -> int:
    """An idea owned by Rina (Telegram, Indonesian) with collaborators Budi (WhatsApp,
    English) and Sari (no identity at all); in the 2027 programme when one is given."""
    if programme_file is not None:
        programme_file.write_text(LAB_2027, encoding="utf-8")
        assert main(["programme", "import", str(programme_file)]) == 0

    async def run() -> int:
        database = Database(url)
        try:
            async with database.sessions() as session, session.begin():
                programme = await session.scalar(select(Programme))
                rina = User(full_name="Rina Wulandari", locale="id")
                budi = User(full_name="Budi Santoso", locale="en")
                sari = User(full_name="Sari Dewi")
                session.add_all([rina, budi, sari])
                await session.flush()
                session.add_all(
                    [
                        Identity(user_id=rina.id, channel="telegram", external_id="9001"),
                        Identity(user_id=budi.id, channel="whatsapp", external_id="628123"),
                    ]
                )
                idea = Idea(
                    name="SI-JEMPOL",
                    problem="p",
                    idea="i",
                    owner_id=rina.id,
                    stage=Stage.DIAGNOSE,
                    programme_id=programme.id if programme else None,
                )
                session.add(idea)
                await session.flush()
                session.add_all(
                    [
                        IdeaCollaborator(idea_id=idea.id, user_id=budi.id),
                        IdeaCollaborator(idea_id=idea.id, user_id=sari.id),
                    ]
                )
                return idea.id
        finally:
            await database.dispose()

    return asyncio.run(run())


def outbox(url: str) -> list[OutboxMessage]:
    return query(url, select(OutboxMessage).order_by(OutboxMessage.id))


def texts(url: str) -> dict[str, str]:
    return {m.recipient: m.payload["replies"][0]["text"] for m in outbox(url)}


def test_stage_move_tells_owner_and_collaborators(db_url: str, tmp_path: Path, capsys: Any) -> None:
    idea_id = seed_idea(db_url, tmp_path / "lab.csv")
    capsys.readouterr()
    assert main(["stage", str(idea_id), "Desain"]) == 0
    out = capsys.readouterr().out
    assert f"idea #{idea_id} «SI-JEMPOL»: Diagnose -> Design" in out
    assert "Rina Wulandari (telegram), Budi Santoso (whatsapp)" in out
    assert "not told, no reachable channel: Sari Dewi" in out
    [idea] = query(db_url, select(Idea))
    assert idea.stage is Stage.DESIGN
    rows = outbox(db_url)
    assert [(m.channel, m.recipient, m.kind, m.priority) for m in rows] == [
        ("telegram", "9001", "stage_change", 3),
        ("whatsapp", "628123", "stage_change", 3),
    ]
    assert all(m.idea_id == idea_id and m.key.startswith(f"stage:{idea_id}:design:") for m in rows)
    # Outside WhatsApp's 24-hour window, this approved template goes instead.
    assert rows[0].payload["template"] == {
        "purpose": "stage_change",
        "parameters": ["Rina Wulandari", "SI-JEMPOL", "Design"],
    }
    # Moving to the stage it is in tells nobody again.
    assert main(["stage", str(idea_id), "design"]) == 0
    assert "already in Design; nobody told" in capsys.readouterr().out
    assert len(outbox(db_url)) == 2


def test_stage_texts_in_each_language(db_url: str, tmp_path: Path, capsys: Any) -> None:
    idea_id = seed_idea(db_url, tmp_path / "lab.csv")
    moved = datetime(2027, 5, 3, 2, 0, tzinfo=UTC)
    assert asyncio.run(calendar_cli.move_stage(settings(db_url), idea_id, "Design", moved)) == 0
    assert texts(db_url) == {
        "9001": "Ide Anda «SI-JEMPOL» kini berada di tahap Design. Mohon susun rencana aksi "
        "paling lambat 31 Mei 2027 (ketik /rencana).",
        "628123": "Your idea «SI-JEMPOL» is now in the Design stage. Please draw up its action "
        "plan by May 31, 2027 (type /rencana).",
    }
    [row] = [m for m in outbox(db_url) if m.recipient == "9001"]
    assert row.key == f"stage:{idea_id}:design:{row.user_id}:2027-05-03T02:00:00+00:00"
    assert row.due_at == moved


def test_deliver_after_its_deadline_asks_for_the_launch_date_now(
    db_url: str, tmp_path: Path
) -> None:
    idea_id = seed_idea(db_url, tmp_path / "lab.csv")
    moved = datetime(2027, 6, 2, 3, 0, tzinfo=UTC)  # the launch date was due by 31 May
    assert asyncio.run(calendar_cli.move_stage(settings(db_url), idea_id, "deliver", moved)) == 0
    assert texts(db_url)["9001"] == (
        "Ide Anda «SI-JEMPOL» kini berada di tahap Deliver. Mohon segera tetapkan tanggal "
        "peluncuran inovasi Anda (ketik /rencana). Selama tahap Deliver, setiap bulan Anda akan "
        "diminta melaporkan kemajuannya (ketik /lapor)."
    )


def test_an_idea_without_a_programme_gets_no_date(db_url: str) -> None:
    idea_id = seed_idea(db_url, None)
    now = datetime(2027, 5, 3, 2, 0, tzinfo=UTC)
    assert asyncio.run(calendar_cli.move_stage(settings(db_url), idea_id, "Display", now)) == 0
    assert texts(db_url)["628123"] == "Your idea «SI-JEMPOL» is now in the Display stage."
    asyncio.run(calendar_cli.move_stage(settings(db_url), idea_id, "Design", now))
    [design] = [m for m in outbox(db_url) if ":design:" in m.key and m.recipient == "9001"]
    assert design.payload["replies"][0]["text"] == (
        "Ide Anda «SI-JEMPOL» kini berada di tahap Design. Mohon segera susun rencana aksi "
        "(ketik /rencana)."
    )


def test_unknown_idea_or_stage(db_url: str, capsys: Any) -> None:
    assert main(["stage", "999", "design"]) == 2
    assert "no idea #999" in capsys.readouterr().err
    assert main(["stage", "1", "Pelatihan"]) == 2
    assert "unknown stage 'Pelatihan'" in capsys.readouterr().err
    assert outbox(db_url) == []


def test_schedule_dry_run_prints_what_would_go_out_and_sends_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "lab.csv"
    csv.write_text(LAB_2027, encoding="utf-8")
    assert main(["programme", "import", str(csv)]) == 0

    async def seed() -> None:
        database = Database(db_url)
        try:
            async with database.sessions() as session, session.begin():
                rina = User(full_name="Rina", nip="199107082019032012")
                session.add(rina)
                await session.flush()
                session.add(Identity(user_id=rina.id, channel="telegram", external_id="501"))
                session.add(
                    Idea(name="SI-JEMPOL", problem="p", idea="i", owner_id=rina.id,
                         stage=Stage.DELIVER)
                )  # fmt: skip
        finally:
            await database.dispose()

    asyncio.run(seed())
    capsys.readouterr()
    assert main(["schedule", "--at", "2027-06-02T09:00", "--dry-run"]) == 0
    header, *rows = capsys.readouterr().out.strip().splitlines()
    assert header.split("\t") == ["due_at", "kind", "idea_id", "recipient_nip", "channel", "key"]
    assert [r.split("\t") for r in rows] == [
        ["2027-06-02T09:00+07:00", "monitoring", "1", "199107082019032012", "telegram",
         "monitoring:1:2027-06"],
    ]  # fmt: skip
    assert query(db_url, select(OutboxMessage)) == []  # a dry run queues nothing
    # On a closed day nothing is due yet: 1 June 2027 is Hari Lahir Pancasila.
    assert main(["schedule", "--at", "2027-06-01T09:00", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1:] == []
    assert main(["schedule", "--at", "nanti"]) == 2
