"""``/peran``: Bappeda and admins grant and revoke roles in chat; everyone else is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import AuditEntry, Role, UserRole
from storage.outbox import OutboxMessage
from tests.chat import ID, ChatDriver
from tests.roles_world import PEOPLE, ROLES, World, build_world

ASN_NIP = PEOPLE["asn"][1]


@pytest.fixture
async def world(chat: ChatDriver) -> World:
    return await build_world(chat)


async def roles_of(world: World, person: str) -> set[tuple[Role, int | None]]:
    async with world.chat.core.database.sessions() as session:
        held = await session.scalars(
            select(UserRole).where(UserRole.user_id == world.users[person])
        )
        return {(r.role, r.opd_id) for r in held}


@pytest.mark.parametrize("person", ROLES)
async def test_only_bappeda_and_admins_may_manage_roles(world: World, person: str) -> None:
    replies = await world.chat.say(person, f"/peran {ASN_NIP}")
    if person in ("bappeda", "admin"):
        assert replies[-1].text.startswith("Rina Marlina (NIP 199107082019032012)")
    elif person == "newcomer":
        assert replies[0].text == ID("access.register_first")
    else:
        assert replies[0].text == ID("access.denied")
        assert "Rina" not in world.chat.text(person)  # nothing about the person leaks


async def test_bappeda_makes_an_asn_coordinator_and_they_are_told(world: World) -> None:
    chat = world.chat
    await chat.say("bappeda", "/peran")
    await chat.say("bappeda", "1991 0708 2019 03 2 012")  # spaces as people paste it
    await chat.pick("bappeda", ID("roles.grant.coordinator"))
    await chat.say("bappeda", "kesehatan")
    replies = await chat.pick("bappeda", "Dinkes")
    role = ID("roles.name.coordinator", opd="Dinkes")
    assert replies[0].text == ID("roles.granted", name="Rina Marlina", role=role)
    assert await roles_of(world, "asn") == {(Role.COORDINATOR, world.opds["Dinkes"])}
    async with chat.core.database.sessions() as session:
        notice = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "role_notice")
        )
        audit = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert notice is not None and notice.recipient == "asn"
    assert (
        ID("roles.told_granted", role=role, by="Agus Wijaya")
        in notice.payload["replies"][0]["text"]
    )
    last = audit[-1]
    assert (last.action, last.actor, last.subject, last.after) == (
        "role.grant",
        "Agus Wijaya (197905102005011002)",
        f"user:{world.users['asn']}",
        {"role": "coordinator:Dinkes"},
    )
    assert last.actor_id == world.users["bappeda"]


async def test_revoking_from_the_menu_and_an_old_button_does_nothing_twice(world: World) -> None:
    chat = world.chat
    await chat.say("bappeda", f"/peran {PEOPLE['coordinator'][1]}")
    revoke = chat.payload(
        "bappeda", ID("roles.revoke", role=ID("roles.name.coordinator", opd="Dinkes"))
    )
    await chat.press("bappeda", revoke)
    assert await roles_of(world, "coordinator") == set()
    replies = await chat.press("bappeda", revoke)  # pressed again, from the old message
    assert replies[0].text in (ID("input.stale_button"), ID("roles.already_changed"))
    async with chat.core.database.sessions() as session:
        revokes = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "role.revoke")
        )
        assert len(list(revokes)) == 1


async def test_bappeda_cannot_make_an_admin_but_an_admin_can(world: World) -> None:
    chat = world.chat
    await chat.say("bappeda", f"/peran {ASN_NIP}")
    titles = [c.title for c in chat.choices("bappeda")]
    assert ID("roles.grant.admin") not in titles
    # A forged button is refused by the same rule.
    replies = await chat.press("bappeda", "role:grant:admin")
    assert replies[0].text in (ID("input.stale_button"), ID("access.denied"))
    assert await roles_of(world, "asn") == set()
    await chat.say("admin", f"/peran {ASN_NIP}")
    await chat.pick("admin", ID("roles.grant.admin"))
    assert await roles_of(world, "asn") == {(Role.ADMIN, None)}


async def test_nobody_revokes_their_own_roles_in_chat(world: World) -> None:
    chat = world.chat
    await chat.say("bappeda", f"/peran {PEOPLE['bappeda'][1]}")
    assert not [c for c in chat.choices("bappeda") if c.payload.startswith("role:revoke:")]


async def test_a_nip_nobody_registered_is_explained(world: World) -> None:
    replies = await world.chat.say("bappeda", "/peran 199001012015031001")
    assert replies[0].text == ID("roles.not_found")
    assert replies[-1].text == ID("roles.ask_nip")


async def test_losing_bappeda_mid_flow_stops_the_flow(world: World) -> None:
    chat = world.chat
    await chat.say("bappeda", f"/peran {ASN_NIP}")
    grant_payload = chat.payload("bappeda", ID("roles.grant.bappeda"))
    await chat.say("admin", f"/peran {PEOPLE['bappeda'][1]}")
    await chat.pick("admin", ID("roles.revoke", role=ID("roles.name.bappeda")))
    replies = await chat.press("bappeda", grant_payload)
    assert replies[0].text == ID("access.denied")
    assert await roles_of(world, "asn") == set()


@pytest.mark.parametrize(
    ("person", "extra"),
    [
        ("asn", None),
        ("coordinator", "roles.commands.coordinator"),
        ("bappeda", "roles.commands.bappeda"),
        ("admin", "roles.commands.admin"),
    ],
)
async def test_help_lists_the_commands_a_role_adds(
    world: World, person: str, extra: str | None
) -> None:
    replies = await world.chat.say(person, "/bantuan")
    text = replies[0].text
    assert text.startswith(ID("help.registered"))
    for key in ("roles.commands.coordinator", "roles.commands.bappeda", "roles.commands.admin"):
        assert (ID(key) in text) is (key == extra)


@pytest.mark.parametrize("person", ["newcomer", "asn", "coordinator", "other_coordinator"])
async def test_role_buttons_pressed_by_others_change_nothing(world: World, person: str) -> None:
    await world.chat.say("bappeda", f"/peran {ASN_NIP}")
    payloads = [c.payload for c in world.chat.choices("bappeda")]
    assert "role:grant:coordinator" in payloads
    for payload in payloads:
        replies = await world.chat.press(person, payload)
        assert "(NIP " not in "\n".join(r.text for r in replies)
    assert await roles_of(world, "asn") == set()
