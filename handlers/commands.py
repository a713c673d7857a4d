"""The command table: names (Indonesian first, English aliases), who may use them, what they do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from handlers.access import Access
from handlers.context import StepContext
from handlers.flow import Transition
from handlers.i18n import Translator

CommandFn = Callable[[StepContext, str], Awaitable[Transition]]


@dataclass(frozen=True)
class Command:
    """A slash command. ``menu_key`` names its description in the catalogues (None: hidden)."""

    name: str
    run: CommandFn
    access: Access = Access.REGISTERED
    aliases: tuple[str, ...] = ()
    menu_key: str | None = None
    in_groups: bool = False  # coordinator commands may be used in Bappeda group chats


class CommandTable:
    def __init__(self, commands: Iterable[Command] = ()) -> None:
        self._by_name: dict[str, Command] = {}
        self._ordered: list[Command] = []
        for command in commands:
            self.add(command)

    def add(self, command: Command) -> None:
        for name in (command.name, *command.aliases):
            if name in self._by_name:
                raise ValueError(f"command /{name} defined twice")
            self._by_name[name] = command
        self._ordered.append(command)

    def find(self, name: str) -> Command | None:
        return self._by_name.get(name.lower())

    @property
    def commands(self) -> list[Command]:
        return list(self._ordered)


def parse_command(text: str) -> tuple[str, str] | None:
    """``"/ideku@SasiBot 12"`` → ``("ideku", "12")``; None when the text is not a command."""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, args = text[1:].partition(" ")
    name = head.split("@", 1)[0].strip().lower()
    if not name or not name.replace("_", "").isalnum():
        return None
    return name, args.strip()


def menu_for(table: CommandTable, locale: str) -> list[tuple[str, str]]:
    """(command, description) pairs for a channel's command menu, in ``locale``.

    Indonesian names are listed for Indonesian; for English the English alias is listed
    where there is one, so each language sees commands in its own words.
    """
    t = Translator(locale)
    menu: list[tuple[str, str]] = []
    for command in table.commands:
        if command.menu_key is None or command.access not in (Access.ANYONE, Access.REGISTERED):
            continue
        name = command.name
        if t.locale == "en" and command.aliases:
            name = command.aliases[0]
        menu.append((name, t(command.menu_key)))
    return menu


def command_menu(locale: str) -> list[tuple[str, str]]:
    """(command, description) pairs of SASI's own commands, for a channel's command menu."""
    from handlers.conversations import build_commands

    return menu_for(build_commands(), locale)
