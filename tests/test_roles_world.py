"""The shared role fixture is what the role tests assume it is."""

from __future__ import annotations

from sqlalchemy import select

from handlers.access import may_see_opd, sees_everything, visible_opds
from storage.models import User
from tests.chat import ChatDriver
from tests.roles_world import build_world


async def test_every_role_is_held_by_its_person(chat: ChatDriver) -> None:
    world = await build_world(chat)
    dinkes, disdukcapil = world.opds["Dinkes"], world.opds["Disdukcapil"]
    async with chat.core.database.sessions() as session:
        users = {
            person: await session.scalar(
                select(User).where(User.id == user_id).execution_options(populate_existing=True)
            )
            for person, user_id in world.users.items()
        }
        for user in users.values():
            assert user is not None
            await session.refresh(user, attribute_names=["roles"])
    assert visible_opds(users["asn"]) == frozenset()  # type: ignore[arg-type]
    assert visible_opds(users["coordinator"]) == {dinkes}  # type: ignore[arg-type]
    assert may_see_opd(users["other_coordinator"], disdukcapil)  # type: ignore[arg-type]
    assert not may_see_opd(users["other_coordinator"], dinkes)  # type: ignore[arg-type]
    assert sees_everything(users["bappeda"]) and sees_everything(users["admin"])  # type: ignore[arg-type]
    assert not sees_everything(users["coordinator"])  # type: ignore[arg-type]
