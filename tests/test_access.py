"""Roles are checked in one place; every command is tested for who may use it."""

from __future__ import annotations

import pytest

from handlers.access import Access, is_allowed
from handlers.commands import command_menu
from handlers.conversations import build_commands
from handlers.messages import Incoming
from storage.models import Role, User, UserRole, utcnow
from tests.chat import ID, ChatDriver

COMMANDS = build_commands()

# For each command: what a newcomer (not registered) gets as the first reply.
NEWCOMER_FIRST_REPLY = {
    "mulai": "registration.welcome",
    "ide": "access.register_first",
    "ideku": "access.register_first",
    "rencana": "access.register_first",
    "lapor": "access.register_first",
    "jadwal": "access.register_first",
    "batal": "flow.nothing_to_cancel",
    "bahasa": "language.ask",
    "bantuan": "help.newcomer",
    "rekap": "access.register_first",
    "peran": "access.register_first",
    "tinjau": "access.register_first",
    "siaran": "access.register_first",
    "ekspor": "access.register_first",
    "dasbor": "access.register_first",
}


def _user(*roles: Role, registered: bool = True) -> User:
    user = User(full_name="X", registered_at=utcnow() if registered else None)
    user.roles = [UserRole(role=r) for r in roles]
    return user


def test_every_command_has_an_expectation_here() -> None:
    assert {c.name for c in COMMANDS.commands} == set(NEWCOMER_FIRST_REPLY)


@pytest.mark.parametrize(
    ("access", "newcomer", "asn", "coordinator", "bappeda", "admin"),
    [
        (Access.ANYONE, True, True, True, True, True),
        (Access.REGISTERED, False, True, True, True, True),
        (Access.COORDINATOR, False, False, True, True, True),
        (Access.BAPPEDA, False, False, False, True, True),
        (Access.ADMIN, False, False, False, False, True),
    ],
)
def test_the_access_matrix(
    access: Access, newcomer: bool, asn: bool, coordinator: bool, bappeda: bool, admin: bool
) -> None:
    assert is_allowed(_user(registered=False), access) is newcomer
    assert is_allowed(_user(), access) is asn
    assert is_allowed(_user(Role.COORDINATOR), access) is coordinator
    assert is_allowed(_user(Role.BAPPEDA), access) is bappeda
    assert is_allowed(_user(Role.ADMIN), access) is admin


@pytest.mark.parametrize("name", sorted(NEWCOMER_FIRST_REPLY))
async def test_each_command_for_a_newcomer(chat: ChatDriver, name: str) -> None:
    replies = await chat.say("baru", f"/{name}")
    assert replies[0].text == ID(NEWCOMER_FIRST_REPLY[name])


ASN_COMMANDS = sorted(
    c.name for c in COMMANDS.commands if c.access in (Access.ANYONE, Access.REGISTERED)
)


@pytest.mark.parametrize("name", ASN_COMMANDS)
async def test_each_command_for_a_registered_asn(chat: ChatDriver, name: str) -> None:
    await chat.register("rina")
    replies = await chat.say("rina", f"/{name}")
    assert replies, f"/{name} gave no answer"
    assert ID("access.denied") not in [r.text for r in replies]
    assert ID("access.register_first") not in [r.text for r in replies]


@pytest.mark.parametrize("command", COMMANDS.commands, ids=lambda c: c.name)
async def test_english_aliases_reach_the_same_command(chat: ChatDriver, command: object) -> None:
    from handlers.commands import Command

    assert isinstance(command, Command)
    for alias in command.aliases:
        assert COMMANDS.find(alias) is command


async def test_group_chats_get_no_conversation(chat: ChatDriver) -> None:
    await chat.register("rina")
    incoming = Incoming(channel="terminal", sender_id="rina", text="halo", chat_kind="group")
    assert (await chat.core.handle(incoming)).replies == []
    # ASN commands are not group commands: silence, rather than noise for the whole group.
    for text in ("/ide", "/ideku", "/mulai", "/bantuan", "/tidakada"):
        incoming = Incoming(channel="terminal", sender_id="rina", text=text, chat_kind="group")
        assert (await chat.core.handle(incoming)).replies == []


def test_menus_list_asn_commands_in_each_language() -> None:
    indonesian = dict(command_menu("id"))
    english = dict(command_menu("en"))
    assert {"mulai", "ide", "ideku", "batal", "bahasa", "bantuan"} <= set(indonesian)
    assert {"start", "idea", "myideas", "cancel", "language", "help"} <= set(english)
    assert indonesian["ide"] == ID("command.ide")


async def test_a_group_command_leaves_the_private_conversation_as_it_was(
    chat: ChatDriver,
) -> None:
    await chat.say("rina", "/mulai")
    await chat.say("rina", "Rina Marlina")
    await chat.say("rina", "199107082019032012")
    await chat.say("rina", "kesehatan")
    assert chat.choices("rina")[0].title == "Dinkes"
    for text in ("/rekap", "/ide", "halo"):
        await chat.core.handle(
            Incoming(channel="terminal", sender_id="rina", text=text, chat_kind="group")
        )
    # The OPD buttons she was offered in private still work, and so do typed numbers.
    replies = await chat.say("rina", "1")
    assert replies[-1].text == ID("registration.ask_position")
