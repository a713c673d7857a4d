"""Granting and revoking roles. Who may grant what is decided in handlers/access.py."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.audit import Actor, record
from storage.models import Opd, Role, User, UserRole


def describe(role: Role, opd: Opd | None) -> str:
    """A role as the audit log and the command line print it: "coordinator:DISDUKCAPIL"."""
    return f"{role.value}:{opd.short_name}" if opd is not None else role.value


async def roles_of_user(session: AsyncSession, user_id: int) -> Sequence[UserRole]:
    return list(
        await session.scalars(
            select(UserRole).where(UserRole.user_id == user_id).order_by(UserRole.id)
        )
    )


async def grant(
    session: AsyncSession, actor: Actor, user: User, role: Role, opd: Opd | None = None
) -> bool:
    """Give ``user`` the role (a coordinator role names its OPD). False when already held."""
    if (role is Role.COORDINATOR) != (opd is not None):
        raise ValueError("a coordinator role needs an OPD, and only a coordinator role has one")
    opd_id = opd.id if opd is not None else None
    held = await session.scalar(
        select(UserRole).where(
            UserRole.user_id == user.id,
            UserRole.role == role,
            UserRole.opd_id.is_(None) if opd_id is None else UserRole.opd_id == opd_id,
        )
    )
    if held is not None:
        return False
    session.add(UserRole(user_id=user.id, role=role, opd_id=opd_id))
    record(session, actor, "role.grant", f"user:{user.id}", after={"role": describe(role, opd)})
    await session.flush()
    return True


async def revoke(
    session: AsyncSession, actor: Actor, user: User, role: Role, opd: Opd | None = None
) -> int:
    """Take the role away (a coordinator role of one OPD, or of every OPD when ``opd`` is
    None). Returns how many grants were removed."""
    query = select(UserRole).where(UserRole.user_id == user.id, UserRole.role == role)
    if opd is not None:
        query = query.where(UserRole.opd_id == opd.id)
    removed = list(await session.scalars(query))
    opds = {o.id: o for o in await session.scalars(select(Opd))} if removed else {}
    for held in removed:
        opd_of = opds.get(held.opd_id) if held.opd_id is not None else None
        record(
            session,
            actor,
            "role.revoke",
            f"user:{user.id}",
            before={"role": describe(role, opd_of)},
        )
        await session.delete(held)
    await session.flush()
    return len(removed)
