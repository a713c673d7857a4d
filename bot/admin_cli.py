"""Command-line administration: the ASN roster, roles, and the audit log.

``python -m bot import-asn FILE``, ``grant NIP ROLE [--opd SHORT_NAME]``,
``revoke NIP ROLE [--opd SHORT_NAME]``, ``audit [--subject S] [--since DATE] [--limit N]``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from bot.config import Settings
from bot.roster_import import RosterFileError, import_roster
from storage.audit import CLI, entries
from storage.db import Database
from storage.migrate import upgrade_to_head_async
from storage.models import Opd, Role, User
from storage.roles import grant, revoke

ROLE_NAMES = {
    "coordinator": Role.COORDINATOR,
    "koordinator": Role.COORDINATOR,
    "bappeda": Role.BAPPEDA,
    "admin": Role.ADMIN,
}


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


async def _open(settings: Settings) -> Database:
    await upgrade_to_head_async(settings.database_url)
    return Database(settings.database_url)


async def import_asn(settings: Settings, path: Path) -> int:
    database = await _open(settings)
    try:
        result = await import_roster(database, path, datetime.now(settings.tz).date())
    except RosterFileError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 2
    finally:
        await database.dispose()
    print(
        f"ASN roster: {result.added} added, {result.updated} updated, {result.unchanged} unchanged"
    )
    return 0


async def change_role(
    settings: Settings, nip: str, role_name: str, opd_name: str | None, give: bool
) -> int:
    role = ROLE_NAMES.get(role_name.strip().lower())
    if role is None:
        return _error(f"unknown role {role_name!r} (coordinator, bappeda or admin)")
    if role is Role.COORDINATOR and opd_name is None and give:
        return _error("a coordinator role needs --opd SHORT_NAME")
    if role is not Role.COORDINATOR and opd_name is not None:
        return _error("only the coordinator role takes --opd")
    database = await _open(settings)
    try:
        async with database.writing(), database.sessions() as session, session.begin():
            user = await session.scalar(select(User).where(User.nip == nip.strip()))
            if user is None or not user.is_registered:
                return _error(f"no registered person with NIP {nip} (they register in chat first)")
            opd: Opd | None = None
            if opd_name is not None:
                key = opd_name.strip().lower()
                opd = await session.scalar(
                    select(Opd).where(
                        (func.lower(Opd.short_name) == key) | (func.lower(Opd.name) == key)
                    )
                )
                if opd is None:
                    return _error(f"no OPD named {opd_name!r}")
            who = f"{user.full_name} ({user.nip})"
            what = f"{role.value}" + (f" of {opd.short_name}" if opd is not None else "")
            if give:
                if not await grant(session, CLI, user, role, opd):
                    print(f"{who} already is {what}")
                    return 0
                print(f"{who} is now {what}")
                return 0
            removed = await revoke(session, CLI, user, role, opd)
            if not removed:
                print(f"{who} is not {what}")
                return 0
            print(f"{who} is no longer {what}" + (f" ({removed} OPDs)" if removed > 1 else ""))
            return 0
    finally:
        await database.dispose()


async def print_audit(
    settings: Settings, subject: str | None, since: str | None, limit: int | None
) -> int:
    moment: datetime | None = None
    if since:
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            return _error(f"--since wants an ISO date, like 2027-03-01, not {since!r}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=settings.tz)
    database = await _open(settings)
    try:
        async with database.sessions() as session:
            found = await entries(session, subject=subject, since=moment, limit=limit)
    finally:
        await database.dispose()
    print("at\tactor\taction\tsubject\tbefore\tafter\tnote")
    for entry in found:
        at = entry.at.astimezone(settings.tz).isoformat(timespec="seconds")
        cells = [
            at,
            entry.actor,
            entry.action,
            entry.subject,
            _json(entry.before),
            _json(entry.after),
            " ".join((entry.note or "").split()),
        ]
        print("\t".join(c.replace("\t", " ") for c in cells))
    return 0


def _json(value: object) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


async def print_outbox(settings: Settings) -> int:
    """``python -m bot outbox``: rows per kind and state, then every digest push not yet
    accepted, with how long it has been refused and whether people were told."""
    from bot.push.alert import STUCK_KIND, STUCK_PREFIX
    from bot.scheduler.digest import PUSH_KIND
    from storage.outbox import OutboxMessage, OutboxState

    database = await _open(settings)
    try:
        async with database.sessions() as session:
            counts = (
                await session.execute(
                    select(OutboxMessage.kind, OutboxMessage.state, func.count())
                    .group_by(OutboxMessage.kind, OutboxMessage.state)
                    .order_by(OutboxMessage.kind, OutboxMessage.state)
                )
            ).all()
            print("kind\tstate\trows")
            for kind, state, n in counts:
                print(f"{kind}\t{state}\t{n}")
            waiting = await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.kind == PUSH_KIND,
                    OutboxMessage.state != OutboxState.SENT.value,
                )
                .order_by(OutboxMessage.id)
            )
            rows = list(waiting)
            if not rows:
                return 0
            print()
            print("push_key\tstate\tdue_since\tattempts\tnext_try\tlast_result\talerted")
            for row in rows:
                alerts = await session.scalar(
                    select(func.count()).where(
                        OutboxMessage.kind == STUCK_KIND,
                        OutboxMessage.key.like(f"{STUCK_PREFIX}{row.key}:%"),
                    )
                )
                try:
                    since = str(json.loads(row.payload.get("body") or "{}").get("generated_at"))
                except ValueError:
                    since = ""
                next_try = row.due_at.astimezone(settings.tz).isoformat(timespec="minutes")
                told = f"yes ({alerts})" if alerts else "no"
                print(
                    f"{row.key}\t{row.state}\t{since}\t{row.attempts}\t{next_try}\t"
                    f"{row.result or ''}\t{told}"
                )
    finally:
        await database.dispose()
    return 0
