"""Channel addresses that name one identity: a WhatsApp user's phone number and their BSUID.

Meta's Cloud API may deliver a person's message with their phone number, with their
business-scoped user id (BSUID) only (a person who chose a username), or with both. The
identity is keyed by the first address SASI saw (the phone number when a message had both);
every other address a message named alongside it is an alias of that identity, so whichever
id a later message uses, it reaches the same person and conversation.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import Identity, IdentityAlias


def addresses_of(*candidates: str | None) -> list[str]:
    """The addresses a message names, preferred first, without gaps or repeats."""
    out: list[str] = []
    for candidate in candidates:
        if candidate and candidate not in out:
            out.append(candidate)
    return out


async def canonical_address(database: Database, channel: str, addresses: Sequence[str]) -> str:
    """The external id of the identity these addresses name; the first one when none does
    yet (the engine then creates the identity under it)."""
    if not addresses:
        raise ValueError("a message needs at least one address")
    async with database.sessions() as session:
        found = await session.scalar(
            select(Identity.external_id)
            .where(Identity.channel == channel, Identity.external_id.in_(list(addresses)))
            .order_by(Identity.id)
            .limit(1)
        )
        if found is not None:
            return str(found)
        aliased = await session.scalar(
            select(Identity.external_id)
            .join(IdentityAlias, IdentityAlias.identity_id == Identity.id)
            .where(IdentityAlias.channel == channel, IdentityAlias.alias.in_(list(addresses)))
            .limit(1)
        )
    return str(aliased) if aliased is not None else addresses[0]


async def record_aliases(
    database: Database, channel: str, external_id: str, aliases: Sequence[str]
) -> None:
    """Let ``aliases`` name the identity ``external_id`` too, unless they name one already."""
    async with database.writing(), database.sessions() as session, session.begin():
        identity_id = await session.scalar(
            select(Identity.id).where(
                Identity.channel == channel, Identity.external_id == external_id
            )
        )
        if identity_id is None:
            return
        for alias in aliases:
            taken = await session.scalar(
                select(Identity.id).where(
                    Identity.channel == channel, Identity.external_id == alias
                )
            ) or await session.scalar(
                select(IdentityAlias.id).where(
                    IdentityAlias.channel == channel, IdentityAlias.alias == alias
                )
            )
            if taken is not None:
                # Two identities for one person, each from before a message named both:
                # left as they are (merging conversations is not a channel's call).
                continue
            try:
                async with session.begin_nested():
                    session.add(
                        IdentityAlias(channel=channel, alias=alias, identity_id=identity_id)
                    )
            except IntegrityError:
                continue  # recorded concurrently by another worker


async def identity_ref(database: Database, channel: str, address: str) -> str:
    """How logs name the person behind an address: ``identity #<id>``, never the address."""
    async with database.sessions() as session:
        found = await session.scalar(
            select(Identity.id).where(Identity.channel == channel, Identity.external_id == address)
        ) or await session.scalar(
            select(IdentityAlias.identity_id).where(
                IdentityAlias.channel == channel, IdentityAlias.alias == address
            )
        )
    return f"#{found}" if found is not None else "(unknown)"
