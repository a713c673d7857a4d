"""The help lists, for each role, exactly the commands that role may use; the README's command
table says the same; an idea opened from the open list is the idea, not "your form"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.access import Access
from handlers.conversations import build_commands
from tests.chat import EN, ID, ChatDriver
from tests.roles_world import World, build_world

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = build_commands()
ASN = {"mulai", "ide", "ideku", "rencana", "lapor", "jadwal", "batal", "bahasa", "bantuan"}
COORDINATOR = ASN | {"rekap", "tinjau", "siaran", "ekspor", "dasbor"}
BAPPEDA = COORDINATOR | {"peran"}
EXPECTED = {
    "asn": (ASN, None),
    "coordinator": (COORDINATOR, "roles.commands.coordinator"),
    "other_coordinator": (COORDINATOR, "roles.commands.coordinator"),
    "bappeda": (BAPPEDA, "roles.commands.bappeda"),
    "admin": (BAPPEDA, "roles.commands.admin"),
}
LISTED = re.compile(r"^/([a-z]+) — ", re.MULTILINE)


@pytest.fixture
async def world(chat: ChatDriver) -> World:
    return await build_world(chat)


@pytest.mark.parametrize("person", sorted(EXPECTED))
async def test_each_role_s_help_lists_exactly_its_commands(world: World, person: str) -> None:
    allowed, heading = EXPECTED[person]
    [reply] = await world.chat.say(person, "/bantuan")
    listed = LISTED.findall(reply.text)
    assert sorted(listed) == sorted(allowed)
    assert len(listed) == len(set(listed))  # each once
    for key in ("roles.commands.coordinator", "roles.commands.bappeda", "roles.commands.admin"):
        assert (ID(key) in reply.text) is (key == heading)
    # What the help lists is what the engine lets the person run, and nothing more.
    for command in COMMANDS.commands:
        answer = await world.chat.say(person, f"/{command.name}")
        refused = answer[0].text == ID("access.denied")
        assert refused is (command.name not in allowed), (person, command.name)
        await world.chat.say(person, "/batal")


async def test_the_english_help_uses_the_english_names(world: World) -> None:
    await world.chat.say("coordinator", "/bahasa")
    await world.chat.pick("coordinator", "English")
    [reply] = await world.chat.say("coordinator", "/help")
    listed = set(LISTED.findall(reply.text))
    english = {c.aliases[0] for c in COMMANDS.commands if c.name in COORDINATOR}
    assert listed == english
    assert EN("roles.commands.coordinator") in reply.text


async def test_a_granted_role_s_notice_lists_what_it_adds(world: World) -> None:
    from sqlalchemy import select

    from storage.outbox import OutboxMessage

    chat = world.chat
    await chat.say("bappeda", "/peran 199107082019032012")
    await chat.press("bappeda", chat.payload("bappeda", ID("roles.grant.bappeda")))
    async with chat.core.database.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "role_notice"))
    assert row is not None
    text = row.payload["replies"][0]["text"]
    assert ID("roles.commands.bappeda") in text
    assert set(LISTED.findall(text)) == BAPPEDA - ASN


README_ROW = re.compile(r"^\| `/([a-z]+)`(?: \(`/[a-z]+`\))? \| ([^|]+) \|", re.MULTILINE)


def _level(who: str) -> Access:
    if who.startswith("Bappeda officer"):
        return Access.BAPPEDA
    if "OPD coordinator" in who:
        return Access.COORDINATOR
    if who.strip() == "anyone":
        return Access.ANYONE
    return Access.REGISTERED  # "registered ASN", "owner or collaborator"


def test_the_readme_command_table_agrees_with_the_roles() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {name: _level(who) for name, who in README_ROW.findall(readme)}
    table = {c.name: c.access for c in COMMANDS.commands}
    assert set(table) <= set(rows), "a command is missing from the README's table"
    assert {name: rows[name] for name in table} == table


async def test_an_idea_typed_from_the_open_list_is_shown_with_its_buttons(
    chat: ChatDriver,
) -> None:
    await chat.register("rina")
    problem = "Antrean loket perpustakaan panjang sekali."
    await chat.submit_idea(
        "rina", "PUSTAKA KILAT", problem, "Peminjaman mandiri dengan kartu anggota ber-QR di mesin."
    )
    await chat.say("rina", "/batal")
    await chat.say("rina", "/ideku")
    [idea_payload] = [c.payload for c in chat.choices("rina") if c.payload.startswith("idea:")]
    idea_id = int(idea_payload.removeprefix("idea:"))
    replies = await chat.say("rina", f"/ideku {idea_id}")
    assert ID("flow.resume") not in chat.text("rina")
    assert replies[-1].text.startswith(
        ID("my_ideas.detail_title", id=idea_id, name="PUSTAKA KILAT")
    )
    assert f"/ideku {idea_id} ubah" in [c.payload for c in replies[-1].choices]
    # Started from the list and cancelled, the edit goes back to the list, said as a menu.
    await chat.say("rina", "/ideku")
    await chat.say("rina", f"/ideku {idea_id} ubah")
    replies = await chat.press("rina", "oedit:cancel")
    assert ID("owner.edit_cancelled") in chat.text("rina")
    assert ID("flow.resume") not in chat.text("rina")
    assert ID("flow.resume_menu") in chat.text("rina")
    assert ID("my_ideas.title", count=1) in replies[-1].text
