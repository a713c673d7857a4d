"""Every command as every role: allowed or refused as the README's command table says.

The expectations are written out here, not derived from the command table, so a command
whose access level changes by mistake fails this test. A refusal is the polite
``access.denied`` (or the invitation to register), and says nothing else.
"""

from __future__ import annotations

import pytest

from handlers.conversations import build_commands
from tests.chat import ID, ChatDriver
from tests.roles_world import ROLES, World, build_world

EVERYONE = frozenset(ROLES)
REGISTERED = EVERYONE - {"newcomer"}
COORDINATORS = frozenset({"coordinator", "other_coordinator", "bappeda", "admin"})
BAPPEDA = frozenset({"bappeda", "admin"})

# command → who may use it
ALLOWED = {
    "mulai": EVERYONE,
    "bahasa": EVERYONE,
    "bantuan": EVERYONE,
    "batal": EVERYONE,
    "ide": REGISTERED,
    "ideku": REGISTERED,
    "rencana": REGISTERED,
    "lapor": REGISTERED,
    "jadwal": REGISTERED,
    "rekap": COORDINATORS,
    "peran": BAPPEDA,
    "tinjau": COORDINATORS,
    "siaran": COORDINATORS,
    "ekspor": COORDINATORS,
    "dasbor": COORDINATORS,
}


def test_every_command_is_in_the_matrix() -> None:
    assert {c.name for c in build_commands().commands} == set(ALLOWED)


@pytest.fixture
async def world(chat: ChatDriver) -> World:
    return await build_world(chat)


@pytest.mark.parametrize("command", sorted(ALLOWED))
async def test_each_command_as_each_role(world: World, command: str) -> None:
    refusals = {ID("access.denied"), ID("access.register_first")}
    for person in ROLES:
        replies = await world.chat.say(person, f"/{command}")
        assert replies, f"/{command} gave {person} no answer"
        refused = replies[0].text in refusals
        assert refused is (person not in ALLOWED[command]), (person, command, replies[0].text)
        if refused and person != "newcomer":
            assert replies[0].text == ID("access.denied")
        await world.chat.say(person, "/batal")
