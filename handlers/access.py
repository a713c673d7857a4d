"""Who may do what: the one place roles are checked.

Commands declare an :class:`Access` level that the engine checks; everything scoped by OPD
(a coordinator sees and reaches only their OPDs) asks :func:`visible_opds` or
:func:`may_see_opd` here, so no flow decides on its own who sees what.
"""

from __future__ import annotations

import enum
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Role, User


class Access(enum.Enum):
    ANYONE = "anyone"  # also people who have not registered yet
    REGISTERED = "registered"  # any registered ASN
    COORDINATOR = "coordinator"  # an OPD coordinator, Bappeda or an admin
    BAPPEDA = "bappeda"  # Bappeda officers and admins
    ADMIN = "admin"  # admins only


ELEVATED = (Access.COORDINATOR, Access.BAPPEDA, Access.ADMIN)


async def load_roles(session: AsyncSession, user: User) -> None:
    """Read the person's roles; only elevated checks need them, so not every message does."""
    if user.is_registered:
        await session.refresh(user, attribute_names=["roles"])


def roles_of(user: User) -> set[Role]:
    if not user.is_registered:
        return set()
    return {r.role for r in user.roles}


def is_allowed(user: User, access: Access) -> bool:
    """True when ``user`` may use something that needs ``access``."""
    if access is Access.ANYONE:
        return True
    if not user.is_registered:
        return False
    # Roles are loaded by the caller only for the elevated levels.
    return level_allows(roles_of(user) if access in ELEVATED else set(), access)


def level_allows(roles: Collection[Role], access: Access, registered: bool = True) -> bool:
    """The rule itself: whether a person holding ``roles`` may use what needs ``access``.
    The help texts are built from it too, so what they list is what is allowed."""
    if access is Access.ANYONE:
        return True
    if not registered:
        return False
    if access is Access.REGISTERED:
        return True
    held = set(roles)
    if access is Access.COORDINATOR:
        return bool(held & {Role.COORDINATOR, Role.BAPPEDA, Role.ADMIN})
    if access is Access.BAPPEDA:
        return bool(held & {Role.BAPPEDA, Role.ADMIN})
    return Role.ADMIN in held


def sees_everything(user: User) -> bool:
    """Bappeda officers and admins see every OPD."""
    return bool(roles_of(user) & {Role.BAPPEDA, Role.ADMIN})


def coordinator_opds(user: User) -> set[int]:
    """The OPDs a person coordinates (their roles must be loaded)."""
    if not user.is_registered:
        return set()
    return {r.opd_id for r in user.roles if r.role is Role.COORDINATOR and r.opd_id is not None}


def visible_opds(user: User) -> frozenset[int] | None:
    """The OPDs whose ideas and people ``user`` may see and reach as a coordinator:
    None means every OPD (Bappeda, admin); an empty set means none (an ASN)."""
    if sees_everything(user):
        return None
    return frozenset(coordinator_opds(user))


def may_see_opd(user: User, opd_id: int | None) -> bool:
    """True when ``user`` may see or reach the ideas and people of this OPD as a coordinator."""
    scope = visible_opds(user)
    return scope is None or (opd_id is not None and opd_id in scope)


def grantable_roles(user: User) -> set[Role]:
    """The roles ``user`` may grant or revoke: an admin any, Bappeda coordinators and Bappeda."""
    roles = roles_of(user)
    if Role.ADMIN in roles:
        return {Role.COORDINATOR, Role.BAPPEDA, Role.ADMIN}
    if Role.BAPPEDA in roles:
        return {Role.COORDINATOR, Role.BAPPEDA}
    return set()
