"""The help texts: built from the command table and the one role rule (handlers/access.py).

What ``/bantuan`` and a role's notice list is, by construction, what the engine lets that
person use: a command added to the table or moved to another level shows up here by itself.
"""

from __future__ import annotations

from collections.abc import Collection

from handlers.access import level_allows
from handlers.commands import Command, CommandTable
from handlers.i18n import Translator
from storage.models import Role

# Each role includes those below it; a person's help shows the highest one they hold.
ROLE_ORDER = (Role.ADMIN, Role.BAPPEDA, Role.COORDINATOR)


def _table() -> CommandTable:
    from handlers.conversations import build_commands

    return build_commands()


def command_name(t: Translator, command: Command) -> str:
    """``/tinjau`` for Indonesian, ``/review`` for English (as the channels' menus list it)."""
    name = command.aliases[0] if t.locale == "en" and command.aliases else command.name
    return f"/{name}"


def usable(roles: Collection[Role], table: CommandTable | None = None) -> list[Command]:
    """The listed commands a registered person holding ``roles`` may use, in table order."""
    table = table or _table()
    return [c for c in table.commands if c.menu_key and level_allows(roles, c.access)]


def added_by(role: Role, table: CommandTable | None = None) -> list[Command]:
    """The listed commands ``role`` lets its holder use beyond what every ASN may."""
    table = table or _table()
    everyone = {c.name for c in usable((), table)}
    return [c for c in usable({role}, table) if c.name not in everyone]


def _lines(t: Translator, commands: list[Command]) -> str:
    return "\n".join(
        t("help.line", command=command_name(t, c), description=t(c.menu_key or ""))
        for c in commands
    )


def role_help(t: Translator, role: Role, table: CommandTable | None = None) -> str:
    """What a role adds, with its heading: in ``/bantuan`` and in the notice of a grant."""
    return t(f"roles.commands.{role.value}") + "\n" + _lines(t, added_by(role, table))


def registered_help(t: Translator, roles: Collection[Role]) -> str:
    """``/bantuan`` for a registered person: every ASN command, then the highest role's."""
    table = _table()
    parts = [t("help.registered") + "\n" + _lines(t, usable((), table))]
    for role in ROLE_ORDER:
        if role in roles:
            parts.append(role_help(t, role, table))
            break
    parts.append(t("help.footer"))
    return "\n\n".join(parts)
