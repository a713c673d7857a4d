"""Queries the conversations need, kept out of the steps so they read as behaviour."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from rapidfuzz import fuzz, process, utils
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Idea, IdeaCollaborator, IdeaStatus, Identity, Opd, User


async def opd_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Opd)) or 0)


async def search_opds(session: AsyncSession, query: str, limit: int = 40) -> list[Opd]:
    """OPDs whose name or short name contains the words typed, else the closest by spelling.

    People type "dukcapil", "dinkes", "pendidikan" or a typo of them; substring matches come
    first, then fuzzy ones, so a near miss still finds the agency.
    """
    opds = list(await session.scalars(select(Opd).order_by(Opd.name)))
    words = utils.default_process(query).split()
    if not words:
        return []

    def haystack(opd: Opd) -> str:
        return utils.default_process(f"{opd.name} {opd.short_name}")

    exact = [o for o in opds if all(w in haystack(o) for w in words)]
    if exact:
        return exact[:limit]
    choices = {o.id: haystack(o) for o in opds}
    scored = process.extract(
        utils.default_process(query), choices, scorer=fuzz.partial_ratio, limit=limit
    )
    by_id = {o.id: o for o in opds}
    return [by_id[key] for _, score, key in scored if score >= 75]


async def opds_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Opd]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.scalars(select(Opd).where(Opd.id.in_(wanted)))
    return {o.id: o for o in rows}


# Built once: /ideku and the idea pickers run it on every visit.
_IDEAS_OF = (
    select(Idea)
    .where(
        or_(
            Idea.owner_id == bindparam("b_user"),
            Idea.id.in_(
                select(IdeaCollaborator.idea_id).where(
                    IdeaCollaborator.user_id == bindparam("b_user")
                )
            ),
        )
    )
    .where(Idea.status != IdeaStatus.WITHDRAWN)
    .order_by(Idea.created_at.desc(), Idea.id.desc())
)


async def ideas_of(session: AsyncSession, user_id: int) -> list[Idea]:
    """Ideas a person owns or collaborates on, newest first (withdrawn ones left out)."""
    rows = await session.scalars(_IDEAS_OF, {"b_user": user_id})
    return list(rows.unique())


async def ideas_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Idea]:
    if not ids:
        return {}
    rows = await session.scalars(select(Idea).where(Idea.id.in_(list(ids))))
    return {i.id: i for i in rows.unique()}


def can_see_idea(idea: Idea, user: User) -> bool:
    """An ASN sees their own ideas and those they collaborate on (coordinators: later issues)."""
    return idea.owner_id == user.id or any(c.user_id == user.id for c in idea.collaborators)


async def identity_of(
    session: AsyncSession, channel: str, external_id: str, lock: bool = False
) -> Identity | None:
    """A channel identity; ``lock`` takes its row lock (ignored by SQLite, which has none)."""
    query = select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def user_by_nip(session: AsyncSession, nip: str) -> User | None:
    return await session.scalar(select(User).where(User.nip == nip))


async def reachable_identities(session: AsyncSession, user_id: int) -> list[Identity]:
    """A person's channel identities that have not blocked the bot."""
    rows = await session.scalars(
        select(Identity).where(Identity.user_id == user_id, Identity.blocked_at.is_(None))
    )
    return list(rows)


async def preferred_identity(session: AsyncSession, user_id: int) -> Identity | None:
    """Where SASI writes to a person first: the channel they last wrote from (not blocked).

    The terminal counts only when it is all they have (a demo, or a test).
    """
    identities = await reachable_identities(session, user_id)
    if not identities:
        return None
    oldest = datetime.min.replace(tzinfo=UTC)
    return max(
        identities,
        key=lambda i: (i.channel != "terminal", i.last_inbound_at or oldest, i.id),
    )


async def all_idea_documents(session: AsyncSession) -> list[tuple[str, str, str]]:
    """(doc_id, name, description) of every idea, for rebuilding the similarity index."""
    rows = await session.execute(
        select(Idea.id, Idea.name, Idea.problem, Idea.idea).where(
            Idea.status.not_in([IdeaStatus.WITHDRAWN, IdeaStatus.MERGED])
        )
    )
    return [(f"idea:{i}", name, f"{problem}\n{text}") for i, name, problem, text in rows]
