"""A Pemda with one person in every role, for tests of who may do what.

``world`` registers, on the demo OPDs: an ASN and a coordinator in Dinkes, a coordinator of
Disdukcapil (another OPD), a Bappeda officer and an admin; ``newcomer`` never registers.
Tests then speak as each of them through the same :class:`ChatDriver`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from storage.audit import CLI
from storage.models import Opd, Role, User
from storage.roles import grant
from tests.chat import ChatDriver

# person → (name, NIP, OPD search words, OPD button title)
PEOPLE = {
    "asn": ("Rina Marlina", "199107082019032012", "kesehatan", "Dinkes"),
    "coordinator": ("Budi Santoso", "198503152010011003", "kesehatan", "Dinkes"),
    "other_coordinator": ("Sari Dewi", "198811202012022004", "kependudukan", "Disdukcapil"),
    "bappeda": ("Agus Wijaya", "197905102005011002", "perencanaan", "Bappeda"),
    "admin": ("Dewi Lestari", "198002022006042001", "perencanaan", "Bappeda"),
}
ROLES = ("newcomer", "asn", "coordinator", "other_coordinator", "bappeda", "admin")


@dataclass
class World:
    chat: ChatDriver
    users: dict[str, int]  # person → user id
    opds: dict[str, int]  # OPD short name → id

    async def user(self, person: str) -> User:
        async with self.chat.core.database.sessions() as session:
            user = await session.get(User, self.users[person])
            assert user is not None
            return user


async def opd_ids(chat: ChatDriver) -> dict[str, int]:
    async with chat.core.database.sessions() as session:
        return {o.short_name: o.id for o in await session.scalars(select(Opd))}


async def build_world(chat: ChatDriver) -> World:
    for person, (name, nip, query, title) in PEOPLE.items():
        await chat.register(person, name=name, nip=nip, opd_query=query, opd_title=title)
    opds = await opd_ids(chat)
    database = chat.core.database
    users: dict[str, int] = {}
    async with database.writing(), database.sessions() as session, session.begin():
        for person, (_name, nip, _query, _title) in PEOPLE.items():
            user = await session.scalar(select(User).where(User.nip == nip))
            assert user is not None
            users[person] = user.id
        by_id = {o.id: o for o in await session.scalars(select(Opd))}
        grants = {
            "coordinator": (Role.COORDINATOR, by_id[opds["Dinkes"]]),
            "other_coordinator": (Role.COORDINATOR, by_id[opds["Disdukcapil"]]),
            "bappeda": (Role.BAPPEDA, None),
            "admin": (Role.ADMIN, None),
        }
        for person, (role, opd) in grants.items():
            user = await session.get(User, users[person])
            assert user is not None
            await grant(session, CLI, user, role, opd)
    return World(chat=chat, users=users, opds=opds)
