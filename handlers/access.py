"""Who may do what: the one place roles are checked."""

from __future__ import annotations

import enum

from storage.models import Role, User


class Access(enum.Enum):
    ANYONE = "anyone"  # also people who have not registered yet
    REGISTERED = "registered"  # any registered ASN
    COORDINATOR = "coordinator"  # an OPD coordinator, Bappeda or an admin
    BAPPEDA = "bappeda"  # Bappeda officers and admins


def roles_of(user: User) -> set[Role]:
    return {r.role for r in user.roles}


def is_allowed(user: User, access: Access) -> bool:
    """True when ``user`` may use something that needs ``access``."""
    if access is Access.ANYONE:
        return True
    if not user.is_registered:
        return False
    if access is Access.REGISTERED:
        return True
    roles = roles_of(user)  # loaded by the caller only for the elevated levels
    if access is Access.COORDINATOR:
        return bool(roles & {Role.COORDINATOR, Role.BAPPEDA, Role.ADMIN})
    return bool(roles & {Role.BAPPEDA, Role.ADMIN})


def coordinator_opds(user: User) -> set[int]:
    """The OPDs a coordinator may see; Bappeda and admins see all (an empty set means none)."""
    return {r.opd_id for r in user.roles if r.role is Role.COORDINATOR and r.opd_id is not None}
