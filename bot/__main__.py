"""The composition root: ``python -m bot [run|migrate|import-opd|seed-demo|dedup-check|
programme|holiday|stage|import-asn|grant|revoke|audit|digest|export|import-directory]``.

It builds settings, database, core, channels and the web server, in that order, and owns
their lifecycle. Nothing imports this module.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.app import Core, open_core
from bot.channels.base import Channel
from bot.config import ConfigError, Settings
from handlers.i18n import Translator
from storage.db import Database
from storage.migrate import upgrade_to_head_async
from storage.queries import opd_count

log = logging.getLogger("bot")


def build_channels(settings: Settings, core: Core) -> list[Channel]:
    """The channels the configuration enables."""
    channels: list[Channel] = []
    if settings.telegram_enabled:
        from bot.channels.telegram import TelegramChannel

        channels.append(TelegramChannel(settings, core))
    if settings.whatsapp_enabled:
        from bot.channels.whatsapp import WhatsAppChannel

        channels.append(WhatsAppChannel(settings, core))
    return channels


async def run(settings: Settings) -> int:
    async with open_core(settings) as core:
        channels = build_channels(settings, core)
        if not channels:
            return await run_terminal(settings, core)
        return await run_servers(settings, core, channels)


async def run_terminal(settings: Settings, core: Core) -> int:
    from bot.channels.terminal import TerminalChannel

    # The terminal is a chat: keep routine log lines out of the conversation.
    logging.getLogger().setLevel(logging.WARNING)
    t = Translator(settings.locale)
    async with core.database.sessions() as session:
        empty = await opd_count(session) == 0
    if empty:
        # A newcomer's first run: give them a Pemda to talk about.
        from bot.demo import seed_demo

        # The similarity index reads the new ideas from the database before its next search.
        await seed_demo(core.database)
        print(t("terminal.seeded"), file=sys.stderr)
    terminal = TerminalChannel(
        core.handle,
        settings.attachments_dir,
        banner=t("terminal.banner"),
        t=t,
        sent=core.replies_sent,
    )
    core.register_channel(terminal)
    await core.resend_unsent_replies(terminal.name)
    async with background(core):
        await terminal.run()
    return 0


async def run_servers(settings: Settings, core: Core, channels: list[Channel]) -> int:
    from bot.web import Readiness, build_web_app, start_web_app

    # open_core built the similarity index before handing the core over.
    readiness = Readiness(
        index_built=True,
        sending=lambda: [c.name for c in channels if core.is_sender(c.name)],
    )
    web_app = build_web_app(core.database, channels, readiness, settings)
    runner = await start_web_app(web_app, settings.http_host, settings.http_port)
    log.info("listening on %s:%s", settings.http_host, settings.http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Channel] = []
    try:
        for channel in channels:
            started.append(channel)
            await channel.start()
            log.info("channel %s started", channel.name)
        readiness.channels_started = True
        async with background(core):
            await stop.wait()
            # A graceful stop: /readyz and new webhooks answer 503 from now on, and the
            # updates in hand are finished (channel.stop) while the outbox sender still
            # runs; then open_core hands the outbox claims and the sender's lock back.
            log.info("stopping: finishing the updates in hand")
            readiness.stopping = True
            while started:
                await started.pop().stop()
    finally:
        readiness.stopping = True
        while started:
            await started.pop().stop()
        await runner.cleanup()
    log.info("stopped")
    return 0


@asynccontextmanager
async def background(core: Core) -> AsyncIterator[None]:
    """The outbox sender (and the scheduler that fills it) while the channels run."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(core.sender.run(stop), name="outbox-sender"),
        asyncio.create_task(core.scheduler.run(stop, core.sender.wake), name="scheduler"),
        asyncio.create_task(core.broadcasts.run(stop), name="broadcast-progress"),
    ]
    if core.push is not None:
        tasks.append(asyncio.create_task(core.push.run(stop), name="digest-push"))
    try:
        yield
    finally:
        stop.set()
        core.sender.wake()
        await asyncio.gather(*tasks, return_exceptions=True)


async def schedule(settings: Settings, at: str | None, dry_run: bool) -> int:
    """Print, as TSV, every message due at a moment; without --dry-run also queue them."""
    from datetime import UTC, datetime

    from bot.scheduler.due import as_messages
    from storage.outbox import add_messages

    moment = datetime.now(UTC)
    if at:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            print(f"error: --at wants an ISO date and time, like 2027-03-01T09:00, not {at!r}",
                  file=sys.stderr)  # fmt: skip
            return 2
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=settings.tz)  # the Pemda's local time
    await upgrade_to_head_async(settings.database_url)
    from bot.scheduler.loop import Scheduler
    from storage.outbox import OutboxStore

    database = Database(settings.database_url)
    try:
        scheduler = Scheduler(database, settings, OutboxStore(database), lambda: moment)
        found = [d for d in await scheduler.due(moment, with_nips=True) if not d.skipped]
        print("due_at\tkind\tidea_id\trecipient_nip\tchannel\tkey")
        for due in sorted(found, key=lambda d: (d.due_at, d.key)):
            local = due.due_at.astimezone(settings.tz).isoformat(timespec="minutes")
            idea = "" if due.idea_id is None else str(due.idea_id)
            print(
                f"{local}\t{due.kind}\t{idea}\t{due.recipient_nip or ''}\t{due.channel}\t{due.key}"
            )
        if not dry_run:
            async with database.writing(), database.sessions() as session, session.begin():
                added = await add_messages(session, as_messages(found))
            print(f"{added} queued in the outbox", file=sys.stderr)
    finally:
        await database.dispose()
    return 0


async def digest(settings: Settings, at: str | None, send: bool) -> int:
    """Print the digest of a moment (the whole Pemda); with --send also queue it now."""
    from datetime import UTC, datetime

    from bot.scheduler.loop import Scheduler
    from reports.digest import build_digest, digest_text
    from storage.outbox import OutboxStore

    moment = datetime.now(UTC)
    if at:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            print(f"error: --at wants an ISO date and time, like 2027-03-15T07:30, not {at!r}",
                  file=sys.stderr)  # fmt: skip
            return 2
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=settings.tz)
    await upgrade_to_head_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        async with database.sessions() as session:
            found = await build_digest(session, scope=None, moment=moment, tz=settings.tz)
        print(digest_text(found, Translator(settings.locale), pemda=settings.pemda_name))
        if send:
            scheduler = Scheduler(database, settings, OutboxStore(database), lambda: moment)
            added = await scheduler.queue_digest(moment, manual=True)
            print(f"{added} queued in the outbox", file=sys.stderr)
    finally:
        await database.dispose()
    return 0


async def migrate(settings: Settings) -> int:
    await upgrade_to_head_async(settings.database_url)
    print(f"database at head: {settings.database_url}")
    return 0


async def import_opd(settings: Settings, path: Path) -> int:
    from bot.opd_import import OpdFileError, import_opds, read_opd_csv

    try:
        rows = read_opd_csv(path)
    except OpdFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    await upgrade_to_head_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        added, updated = await import_opds(database, rows)
    finally:
        await database.dispose()
    print(f"OPD: {added} added, {updated} updated, {len(rows)} in the file")
    return 0


async def seed(settings: Settings) -> int:
    from bot.demo import seed_demo

    await upgrade_to_head_async(settings.database_url)
    database = Database(settings.database_url)
    try:
        opds, ideas = await seed_demo(database)
    finally:
        await database.dispose()
    print(f"demo Pemda loaded: {opds} OPD and {ideas} ideas added")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bot", description="SASI chatbot")
    sub = root.add_subparsers(dest="command")
    sub.add_parser("run", help="run the configured channels (the terminal chat when none)")
    sub.add_parser("migrate", help="bring the database to the newest schema")
    opd = sub.add_parser("import-opd", help="load a Pemda's OPD list from CSV")
    opd.add_argument("file", type=Path)
    sub.add_parser("seed-demo", help="load the demo Pemda (Kabupaten Sukamaju)")
    sub.add_parser("dedup-check", help="check ideas in files for near-duplicates", add_help=False)
    plan = sub.add_parser("schedule", help="what SASI sends by itself at a moment (TSV)")
    plan.add_argument("--at", help="ISO date and time (local time unless a zone is given)")
    plan.add_argument("--dry-run", action="store_true", help="print only; queue nothing")
    weekly = sub.add_parser("digest", help="print the weekly digest; --send queues it now")
    weekly.add_argument("--at", help="ISO date and time (local time unless a zone is given)")
    weekly.add_argument("--send", action="store_true", help="also send it (and push it) now")
    programme = sub.add_parser("programme", help="programmes and their 5D stage dates")
    programme_sub = programme.add_subparsers(dest="programme_command", required=True)
    programme_import = programme_sub.add_parser("import", help="load programmes from CSV/XLSX")
    programme_import.add_argument("file", type=Path)
    programme_sub.add_parser("show", help="every programme, its stages, and today's stage")
    holiday = sub.add_parser("holiday", help="closed days Bappeda adds to the national calendar")
    holiday_sub = holiday.add_subparsers(dest="holiday_command", required=True)
    holiday_add = holiday_sub.add_parser("add", help="close a day")
    holiday_add.add_argument("date")
    holiday_add.add_argument("reason")
    holiday_remove = holiday_sub.add_parser("remove", help="open a day Bappeda closed")
    holiday_remove.add_argument("date")
    holiday_sub.add_parser("list", help="Bappeda's days, national holidays and cuti bersama")
    stage = sub.add_parser("stage", help="move an idea to a stage and tell its people")
    stage.add_argument("idea_id", type=int)
    stage.add_argument("stage")
    roster = sub.add_parser("import-asn", help="load the Pemda's ASN roster from CSV/XLSX")
    roster.add_argument("file", type=Path)
    for name, verb in (("grant", "give"), ("revoke", "take away")):
        role = sub.add_parser(name, help=f"{verb} a role: coordinator (--opd), bappeda, admin")
        role.add_argument("nip")
        role.add_argument("role", help="coordinator, bappeda or admin")
        role.add_argument("--opd", help="the OPD's short name (coordinator only)")
    audit = sub.add_parser("audit", help="print the audit log (TSV), oldest first")
    audit.add_argument("--subject", help='only entries about one subject, e.g. "idea:12"')
    audit.add_argument("--since", help="ISO date or time (local time unless a zone is given)")
    audit.add_argument("--limit", type=int)
    sub.add_parser("outbox", help="outbox rows per kind and state; digest pushes not yet accepted")
    export = sub.add_parser("export", help="the Direktori Inovasi as XLSX or CSV")
    export.add_argument("--format", required=True, choices=("xlsx", "csv"))
    export.add_argument(
        "--out", required=True, type=Path, help="the file; CSV adds FILE-eviden.csv beside it"
    )
    export.add_argument(
        "--opd", action="append", help="only this OPD (short name or name); may be repeated"
    )
    export.add_argument("--locale", choices=("id", "en"), help="header language (default id)")
    directory = sub.add_parser(
        "import-directory", help="load an earlier innovation directory (CSV/XLSX)"
    )
    directory.add_argument("file", type=Path)
    return root


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "dedup-check":
        from bot.similarity.cli import main as dedup_main

        return dedup_main(argv[1:])
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    command = args.command or "run"
    if command == "run":
        return asyncio.run(run(settings))
    if command == "migrate":
        return asyncio.run(migrate(settings))
    if command == "import-opd":
        return asyncio.run(import_opd(settings, args.file))
    if command == "seed-demo":
        return asyncio.run(seed(settings))
    if command == "schedule":
        return asyncio.run(schedule(settings, args.at, args.dry_run))
    if command == "digest":
        return asyncio.run(digest(settings, args.at, args.send))
    if command in ("import-asn", "grant", "revoke", "audit", "outbox"):
        from bot import admin_cli

        if command == "outbox":
            return asyncio.run(admin_cli.print_outbox(settings))
        if command == "import-asn":
            return asyncio.run(admin_cli.import_asn(settings, args.file))
        if command == "audit":
            return asyncio.run(
                admin_cli.print_audit(settings, args.subject, args.since, args.limit)
            )
        return asyncio.run(
            admin_cli.change_role(settings, args.nip, args.role, args.opd, command == "grant")
        )
    if command in ("export", "import-directory"):
        from bot import export_cli

        if command == "export":
            return asyncio.run(
                export_cli.export(settings, args.format, args.out, args.opd, args.locale)
            )
        return asyncio.run(export_cli.import_directory_file(settings, args.file))
    if command in ("programme", "holiday", "stage"):
        from bot.calendar import cli as calendar_cli

        if command == "programme" and args.programme_command == "import":
            return asyncio.run(calendar_cli.import_programmes(settings, args.file))
        if command == "programme":
            return asyncio.run(calendar_cli.show_programmes(settings))
        if command == "holiday" and args.holiday_command == "add":
            return asyncio.run(calendar_cli.add_holiday(settings, args.date, args.reason))
        if command == "holiday" and args.holiday_command == "remove":
            return asyncio.run(calendar_cli.remove_holiday(settings, args.date))
        if command == "holiday":
            return asyncio.run(calendar_cli.list_holidays(settings))
        return asyncio.run(calendar_cli.move_stage(settings, args.idea_id, args.stage))
    parser().print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
