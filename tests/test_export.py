"""The Direktori Inovasi export: XLSX and CSV read back and compared field by field, the
coordinator's scope, the eviden inventory, and ``/ekspor`` in chat and through Telegram."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select

from bot.app import Core
from handlers.access import load_roles, visible_opds
from handlers.indicators import indicators
from handlers.messages import Reply, TemplateCall
from reports.export import export_ideas, inventory_path
from reports.export_columns import COLUMNS
from storage.models import (
    Idea,
    IdeaAttachment,
    IdeaCollaborator,
    IdeaStatus,
    MonitoringReport,
    Stage,
    User,
)
from tests.chat import EN, ID, ChatDriver
from tests.roles_world import World, build_world

TZ = ZoneInfo("Asia/Jakarta")
# Text that tests quoting: a line break, a quote, a comma, markup and an emoji.
PROBLEM = 'Antrean panjang, "berjam-jam"\ndi loket <b>puskesmas</b> 😊'
CREATED = datetime(2027, 3, 1, 20, 30, tzinfo=UTC)  # 2 March in WIB


@pytest.fixture
async def world(chat: ChatDriver) -> World:
    return await build_world(chat)


async def _seed(world: World) -> dict[str, int]:
    """An idea in Dinkes with every field, a bare one in Disdukcapil; their ids."""
    database = world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        full = Idea(
            name="SI-SEHAT *Lansia*",
            problem=PROBLEM,
            idea="Kader posyandu mendaftarkan lansia lewat WhatsApp",
            goal="Waktu tunggu di bawah 30 menit",
            benefit="Lansia tidak antre lama",
            beneficiaries="Warga lanjut usia",
            is_digital=True,
            form="pelayanan_publik",
            affair="kesehatan",
            initiator="asn",
            budget_estimate=15_000_000,
            opd_id=world.opds["Dinkes"],
            owner_id=world.users["asn"],
            stage=Stage.DELIVER,
            status=IdeaStatus.VERIFIED,
            launch_date=date(2027, 7, 15),
            created_at=CREATED,
            updated_at=CREATED,
        )
        bare = Idea(
            name="KTP Keliling",
            problem="Warga desa jauh dari kantor dukcapil",
            idea="Mobil perekaman KTP-el datang ke desa",
            opd_id=world.opds["Disdukcapil"],
            owner_id=world.users["other_coordinator"],
            created_at=CREATED,
            updated_at=CREATED,
        )
        session.add_all([full, bare])
        await session.flush()
        session.add(IdeaCollaborator(idea_id=full.id, user_id=world.users["coordinator"]))
        for period, progress, done in (("2027-08", 40, "Uji coba"), ("2027-09", 70, "Berjalan")):
            session.add(
                MonitoringReport(
                    idea_id=full.id,
                    period=period,
                    progress=progress,
                    done=done,
                    next_step="Perluas",
                )
            )
        for name, indicator in (("sk.pdf", "regulasi"), ("foto.jpg", "regulasi"), ("a.pdf", None)):
            session.add(
                IdeaAttachment(
                    idea_id=full.id,
                    kind="document",
                    file_name=name,
                    storage_path=f"/x/{name}",
                    indicator=indicator,
                )
            )
    return {"full": full.id, "bare": bare.id}


def _expected_full(idea_id: int) -> dict[str, Any]:
    return {
        "id": idea_id,
        "name": "SI-SEHAT *Lansia*",
        "stage": ID("stage.deliver"),
        "status": ID("status.verified"),
        "initiator": ID("initiator.asn"),
        "digital": ID("digital.yes"),
        "form": ID("form.pelayanan_publik"),
        "affair": ID("affair.kesehatan"),
        "opd": "Dinas Kesehatan",
        "problem": PROBLEM,
        "idea": "Kader posyandu mendaftarkan lansia lewat WhatsApp",
        "goal": "Waktu tunggu di bawah 30 menit",
        "benefit": "Lansia tidak antre lama",
        "beneficiaries": "Warga lanjut usia",
        "budget": 15_000_000,
        "owner": "Rina Marlina",
        "owner_nip": "199107082019032012",
        "collaborators": "Budi Santoso (198503152010011003)",
        "launch_date": date(2027, 7, 15),
        "created": date(2027, 3, 2),
        "report_period": "2027-09",
        "report_progress": 70,
        "report_done": "Berjalan",
        "eviden_count": 3,
    }


def _keys() -> list[str]:
    return [c.key for c in COLUMNS]


def _xlsx_rows(path: Path, sheet: int = 0) -> list[tuple[Any, ...]]:
    book = openpyxl.load_workbook(path)
    return [tuple(r) for r in book.worksheets[sheet].iter_rows(values_only=True)]


async def _export(core: Core, path: Path, fmt: str, scope: frozenset[int] | None) -> None:
    async with core.database.sessions() as session:
        await export_ideas(session, path, fmt, scope=scope, timezone=TZ)  # type: ignore[arg-type]


async def test_xlsx_holds_every_field(world: World, tmp_path: Path) -> None:
    ids = await _seed(world)
    path = tmp_path / "direktori.xlsx"
    await _export(world.chat.core, path, "xlsx", None)

    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [ID("export.sheet.directory"), ID("export.sheet.inventory")]
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "C2"
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.column_dimensions["J"].width == 50  # the problem: a wide column
    header = [c.value for c in sheet[1]]
    assert header == [ID(f"export.col.{k}") for k in _keys()]

    rows = {r[0]: dict(zip(_keys(), r, strict=True)) for r in _xlsx_rows(path)[1:]}
    assert set(rows) == {ids["full"], ids["bare"]}
    got = rows[ids["full"]]
    # Dates are real date cells (openpyxl reads them back as datetimes), with a date format.
    launch = sheet.cell(row=2, column=_keys().index("launch_date") + 1)
    assert launch.is_date and launch.number_format == "dd/mm/yyyy"
    for key in ("launch_date", "created"):
        got[key] = got[key].date()
    assert got == _expected_full(ids["full"])
    bare = rows[ids["bare"]]
    assert bare["goal"] is None and bare["budget"] is None and bare["launch_date"] is None
    assert bare["report_period"] is None and bare["eviden_count"] == 0


async def test_inventory_names_what_is_there_and_what_is_missing(
    world: World, tmp_path: Path
) -> None:
    ids = await _seed(world)
    path = tmp_path / "direktori.xlsx"
    await _export(world.chat.core, path, "xlsx", None)
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[1]
    assert sheet.freeze_panes == "C2"
    header = [c.value for c in sheet[1]]
    codes = [i.code for i in indicators()]
    assert header[:4] == [
        ID("export.col.id"),
        ID("export.col.name"),
        ID("export.col.opd"),
        ID("export.col.missing_mandatory"),
    ]
    regulasi = ID("export.mandatory", label=ID("indicator.regulasi"))
    assert header[4 + codes.index("regulasi")] == regulasi
    rows = {r[0]: r for r in _xlsx_rows(path, 1)[1:]}
    full = dict(zip(codes, rows[ids["full"]][4:], strict=True))
    assert full["regulasi"] == "2: sk.pdf, foto.jpg"
    assert full["sdm"] == ID("export.none_yet")
    mandatory = sum(i.mandatory for i in indicators())
    assert rows[ids["full"]][3] == mandatory - 1  # regulasi is proven
    assert rows[ids["bare"]][3] == mandatory
    assert set(rows[ids["bare"]][4:]) == {ID("export.none_yet")}


async def test_csv_is_excel_friendly_and_holds_the_same_fields(
    world: World, tmp_path: Path
) -> None:
    ids = await _seed(world)
    path = tmp_path / "direktori.csv"
    await _export(world.chat.core, path, "csv", None)

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [ID(f"export.col.{k}") for k in _keys()]
    by_id = {int(r[0]): dict(zip(_keys(), r, strict=True)) for r in rows[1:]}
    got = by_id[ids["full"]]
    expected = {k: str(v) for k, v in _expected_full(ids["full"]).items()}
    expected["launch_date"] = "2027-07-15"
    expected["created"] = "2027-03-02"
    assert got == expected  # the line break and the quotes survive, in one cell
    assert got["problem"] == PROBLEM
    # The NIP is quoted text, so a spreadsheet does not turn it into a rounded number.
    assert '"199107082019032012"' in raw.decode("utf-8-sig")

    second = inventory_path(path)
    assert second.name == "direktori-eviden.csv"
    assert second.read_bytes().startswith(b"\xef\xbb\xbf")
    with second.open(encoding="utf-8-sig", newline="") as handle:
        inventory = {int(r[0]): r for r in list(csv.reader(handle))[1:]}
    codes = [i.code for i in indicators()]
    assert dict(zip(codes, inventory[ids["full"]][4:], strict=True))["regulasi"] == (
        "2: sk.pdf, foto.jpg"
    )


async def test_english_headers(world: World, tmp_path: Path) -> None:
    await _seed(world)
    path = tmp_path / "directory.xlsx"
    async with world.chat.core.database.sessions() as session:
        await export_ideas(session, path, "xlsx", scope=None, locale="en")
    assert _xlsx_rows(path)[0][1] == EN("export.col.name")
    assert EN("status.verified") in _xlsx_rows(path)[1] + _xlsx_rows(path)[2]


async def test_a_coordinators_export_holds_only_their_opds(world: World, tmp_path: Path) -> None:
    ids = await _seed(world)
    async with world.chat.core.database.sessions() as session:
        coordinator = await session.get(User, world.users["coordinator"])
        assert coordinator is not None
        await load_roles(session, coordinator)
        scope = visible_opds(coordinator)
    assert scope == frozenset({world.opds["Dinkes"]})
    for fmt in ("xlsx", "csv"):
        path = tmp_path / f"dinkes.{fmt}"
        await _export(world.chat.core, path, fmt, scope)
        if fmt == "xlsx":
            found = [r[0] for r in _xlsx_rows(path)[1:]]
            inventory = [r[0] for r in _xlsx_rows(path, 1)[1:]]
        else:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                found = [int(r[0]) for r in list(csv.reader(handle))[1:]]
            inventory = found
        assert found == [ids["full"]] and inventory == [ids["full"]]
    # No OPD at all: an empty file with its header, not everyone's ideas.
    path = tmp_path / "none.xlsx"
    await _export(world.chat.core, path, "xlsx", frozenset())
    assert len(_xlsx_rows(path)) == 1


class Inbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[Reply]]] = []

    async def __call__(
        self, external_id: str, replies: Sequence[Reply], *, template: TemplateCall | None = None
    ) -> None:
        self.sent.append((external_id, list(replies)))


async def test_ekspor_in_chat_sends_the_coordinators_file(world: World) -> None:
    ids = await _seed(world)
    chat = world.chat
    inbox = Inbox()
    chat.core.register_sender("terminal", inbox)

    await chat.say("coordinator", "/ekspor")
    assert ID("export.ask_format", scope=ID("export.scope_opds", opds="Dinkes")) in chat.text(
        "coordinator"
    )
    await chat.pick("coordinator", "XLSX")
    assert chat.text("coordinator") == ID("export.preparing")
    # A button pressed twice (from the old message) changes nothing and loses nothing.
    again = await chat.press("coordinator", "export:xlsx")
    assert again and again[0].text != ID("export.preparing")
    await chat.core.sender.send_due("terminal")

    [(to, replies)] = inbox.sent
    assert to == "coordinator"
    [reply] = replies
    assert reply.file is not None and reply.file.kind == "document"
    assert reply.file.file_name.endswith(".xlsx")
    assert ID("export.caption", count="1", date="").split(",")[0] in reply.text
    assert [r[0] for r in _xlsx_rows(reply.file.path)[1:]] == [ids["full"]]

    # Bappeda gets every OPD, as CSV: two files, the directory and the inventory.
    await chat.say("bappeda", "/export csv")
    await chat.core.sender.send_due("terminal")
    _, csv_replies = inbox.sent[-1]
    names = [r.file.file_name for r in csv_replies if r.file is not None]
    assert len(names) == 2 and names[1].endswith("-eviden.csv")
    first = csv_replies[0].file
    assert first is not None
    with first.path.open(encoding="utf-8-sig", newline="") as handle:
        assert {int(r[0]) for r in list(csv.reader(handle))[1:]} == set(ids.values())


async def test_a_role_revoked_before_the_file_is_built_gets_nothing(world: World) -> None:
    from storage.audit import CLI
    from storage.models import Role
    from storage.roles import revoke

    await _seed(world)
    chat = world.chat
    inbox = Inbox()
    chat.core.register_sender("terminal", inbox)
    await chat.say("coordinator", "/ekspor xlsx")
    database = chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        user = await session.get(User, world.users["coordinator"])
        assert user is not None
        await revoke(session, CLI, user, Role.COORDINATOR, None)
    await chat.core.sender.send_due("terminal")
    assert inbox.sent == []


async def test_an_asn_is_refused(world: World) -> None:
    replies = await world.chat.say("asn", "/ekspor")
    assert replies[0].text == ID("access.denied")
    async with world.chat.core.database.sessions() as session:
        assert (await session.scalars(select(Idea))).first() is None


async def test_ekspor_through_telegram_delivers_a_document(
    tmp_path: Path, database_url: str
) -> None:
    from storage.audit import CLI
    from storage.models import Opd, Role
    from storage.roles import grant
    from tests.fakes.telegram_api import telegram_rig
    from tests.test_telegram_e2e import Person
    from tests.test_telegram_e2e import demo_core as telegram_core

    async with telegram_rig(tmp_path, "polling", telegram_core, database_url=database_url) as rig:
        budi = Person(rig, rig.fake.user(9101, "Budi", language_code="id"))
        await budi.register(name="Budi Santoso", nip="198503152010011003")
        database = rig.core.database
        async with database.writing(), database.sessions() as session, session.begin():
            user = await session.scalar(select(User).where(User.nip == "198503152010011003"))
            dinkes = await session.scalar(select(Opd).where(Opd.short_name == "Dinkes"))
            assert user is not None and dinkes is not None
            await grant(session, CLI, user, Role.COORDINATOR, dinkes)
            session.add(
                Idea(
                    name="SI-SEHAT",
                    problem="Antrean panjang di puskesmas",
                    idea="Pendaftaran lewat kader",
                    opd_id=dinkes.id,
                    owner_id=user.id,
                )
            )

        await budi.say("/ekspor")
        await budi.pick("XLSX")
        assert ID("export.preparing") in budi.text
        await rig.core.sender.send_due("telegram")
        [document] = [m for m in rig.fake.sent_to(9101) if m.kind == "document"]
        assert document.file_name is not None and document.file_name.endswith(".xlsx")
        assert document.text is not None and document.text.startswith("Direktori Inovasi: 1 ide")
        [built] = list((rig.settings.data_dir / "exports").glob("*/*.xlsx"))
        assert [r[1] for r in _xlsx_rows(built)[1:]] == ["SI-SEHAT"]


@pytest.mark.parametrize("stride", [2, 4])  # read by id range, and by a list of ids
async def test_batches_of_a_filtered_export_keep_each_ideas_own_rows(
    world: World, stride: int
) -> None:
    """Ideas of two OPDs interleaved: a coordinator's batches have gaps between their ids, and
    every collaborator, report and file still lands on its own idea, none from the others."""
    from reports.export import idea_records
    from storage.idea_filter import IdeaFilter

    database = world.chat.core.database
    opds = [world.opds["Dinkes"], world.opds["Disdukcapil"]]
    async with database.writing(), database.sessions() as session, session.begin():
        ideas = [
            Idea(
                name=f"Ide {n}",
                problem="Masalah",
                idea="Gagasan",
                opd_id=opds[0] if n % stride == 0 else opds[1],
                owner_id=world.users["asn"],
                stage=Stage.DELIVER if n in (0, 8) else Stage.DIAGNOSE,
            )
            for n in range(24)
        ]
        session.add_all(ideas)
        await session.flush()
        for idea in ideas:
            session.add(IdeaCollaborator(idea_id=idea.id, user_id=world.users["coordinator"]))
            session.add(
                MonitoringReport(
                    idea_id=idea.id, period="2027-08", progress=idea.id, done=idea.name,
                    next_step="-",
                )
            )  # fmt: skip
            session.add(
                IdeaAttachment(
                    idea_id=idea.id, kind="document", file_name=f"{idea.name}.pdf",
                    storage_path="/x", indicator="sdm",
                )
            )  # fmt: skip
    names = {i.id: i.name for i in ideas}
    async with database.sessions() as session:
        scope = frozenset({opds[0]})
        batches = [b async for b in idea_records(session, scope, batch=2)]
        records = [r for b in batches for r in b]
        assert [len(b) for b in batches] == [2] * (12 // stride)
        assert [r.name for r in records] == [f"Ide {n}" for n in range(0, 24, stride)]
        for record in records:
            assert record.report is not None and record.report.done == names[record.id]
            assert [f.file_name for f in record.files] == [f"{names[record.id]}.pdf"]
            assert [p.name for p in record.collaborators] == ["Budi Santoso"]
        # The dashboard's filter narrows within the scope, never beyond it.
        wanted = IdeaFilter(stage=Stage.DELIVER)
        deliver = [r for b in [b async for b in idea_records(session, scope, wanted)] for r in b]
        assert [r.name for r in deliver] == ["Ide 0", "Ide 8"]
        wider = IdeaFilter(opd_ids=frozenset({opds[1]}))
        assert [b async for b in idea_records(session, scope, wider)] == []


async def test_text_that_xml_forbids_is_dropped_not_fatal(world: World, tmp_path: Path) -> None:
    database = world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        session.add(
            Idea(
                name="Bel\x07 & <Lonceng>",
                problem="x" * 40_000,  # past Excel's 32,767 characters in a cell
                idea="Gagasan\x0b",  # PostgreSQL stores no NUL at all
                opd_id=world.opds["Dinkes"],
                owner_id=world.users["asn"],
            )
        )
    path = tmp_path / "d.xlsx"
    await _export(world.chat.core, path, "xlsx", None)
    [row] = _xlsx_rows(path)[1:]
    assert row[1] == "Bel & <Lonceng>" and row[10] == "Gagasan"
    assert len(row[9]) == 32_767


async def test_format_typed_and_english_speakers_get_english_files(world: World) -> None:
    await _seed(world)
    chat = world.chat
    inbox = Inbox()
    chat.core.register_sender("terminal", inbox)
    await chat.say("bappeda", "/bahasa")
    await chat.press("bappeda", chat.payload("bappeda", "English"))
    await chat.say("bappeda", "/export")
    assert EN("export.scope_all") in chat.text("bappeda")
    await chat.say("bappeda", "xlsx")
    assert chat.text("bappeda") == EN("export.preparing")
    await chat.core.sender.send_due("terminal")
    [reply] = inbox.sent[-1][1]
    assert reply.text.startswith("Innovation directory: 2 ideas")
    assert reply.file is not None
    assert _xlsx_rows(reply.file.path)[0][1] == EN("export.col.name")


async def test_a_failing_export_is_logged_and_the_person_told(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bot.export_delivery

    async def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bot.export_delivery, "export_ideas", broken)
    chat = world.chat
    inbox = Inbox()
    chat.core.register_sender("terminal", inbox)
    await chat.say("coordinator", "/ekspor csv")
    await chat.core.sender.send_due("terminal")
    [(_, [reply])] = inbox.sent
    assert reply.text == ID("export.failed") and reply.file is None
    assert "export for outbox row" in caplog.text


async def _audited_exports(database: Any) -> list[dict[str, Any]]:
    from storage.audit import EXPORT_ACTION
    from storage.models import AuditEntry

    async with database.sessions() as session:
        entries = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == EXPORT_ACTION).order_by(AuditEntry.id)
        )
        return [{"actor_id": e.actor_id, "at": e.at, **(e.after or {})} for e in entries]


async def test_ekspor_is_audited_with_who_format_and_scope(world: World) -> None:
    await _seed(world)
    chat = world.chat
    chat.core.register_sender("terminal", Inbox())
    await chat.say("coordinator", "/ekspor xlsx")
    await chat.core.sender.send_due("terminal")
    [entry] = await _audited_exports(chat.core.database)
    assert entry["actor_id"] == world.users["coordinator"]
    assert entry["at"] is not None
    assert entry["via"] == "terminal" and entry["format"] == "xlsx"
    assert entry["scope"] == [world.opds["Dinkes"]] and entry["ideas"] == 1
    assert entry["filter"] == {}


async def test_a_file_over_telegrams_limit_is_replaced_by_advice(
    tmp_path: Path, database_url: str
) -> None:
    """A limit of 1 KB stands in for Telegram's 50 MB: the person is told, politely, what to
    do instead; nothing is sent as a document and the file does not stay on disk."""
    from storage.audit import CLI
    from storage.models import Opd, Role
    from storage.roles import grant
    from tests.fakes.telegram_api import telegram_rig
    from tests.test_telegram_e2e import Person
    from tests.test_telegram_e2e import demo_core as telegram_core

    async with telegram_rig(
        tmp_path, "polling", telegram_core, database_url=database_url,
        telegram_document_limit=1024,
    ) as rig:  # fmt: skip
        budi = Person(rig, rig.fake.user(9102, "Budi", language_code="id"))
        await budi.register(name="Budi Santoso", nip="198503152010011003")
        database = rig.core.database
        async with database.writing(), database.sessions() as session, session.begin():
            user = await session.scalar(select(User).where(User.nip == "198503152010011003"))
            assert user is not None
            await grant(session, CLI, user, Role.BAPPEDA, None)
            dinkes = await session.scalar(select(Opd).where(Opd.short_name == "Dinkes"))
            assert dinkes is not None
            session.add_all(
                Idea(name=f"Inovasi {n}", problem="Masalah " * 40, idea="Gagasan " * 40,
                     opd_id=dinkes.id, owner_id=user.id)
                for n in range(20)
            )  # fmt: skip

        await budi.say("/ekspor csv")
        await rig.core.sender.send_due("telegram")
        sent = rig.fake.sent_to(9102)
        assert [m for m in sent if m.kind == "document"] == []
        advice = [m.text for m in sent if m.text and "melebihi batas" in m.text]
        assert len(advice) == 1
        assert "Telegram" in advice[0]
        assert "/dasbor" in advice[0] and "python -m bot export" in advice[0]
        assert list((rig.settings.data_dir / "exports").glob("*/*.csv")) == []
        [entry] = await _audited_exports(database)
        assert entry["via"] == "telegram" and entry["scope"] == "all"
        assert len(entry["too_large"]) == 2  # the directory and the inventory


async def test_within_the_limit_the_file_is_sent(world: World) -> None:
    """The terminal has no document limit; Telegram's default 50 MB holds a small export."""
    from bot.config import Settings
    from bot.export_delivery import document_limit

    assert document_limit(Settings(), "telegram") == 50 * 1024 * 1024
    assert document_limit(Settings(), "whatsapp") == 100 * 1024 * 1024
    assert document_limit(Settings(), "terminal") is None
    assert Settings.from_env({"SASI_TELEGRAM_DOCUMENT_MB": "0.5"}, dotenv_path=None)\
        .telegram_document_limit == 512 * 1024  # fmt: skip
