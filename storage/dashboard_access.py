"""The dashboard's one-time links and sessions: only hashes are stored, uses are atomic.

A link's token is 32 random bytes; the person receives it with an HMAC of it (so a forged
link is refused before the database is asked), the table keeps its SHA-256. Using a link is
one ``UPDATE ... WHERE used_at IS NULL AND expires_at > now``: two browsers racing for the same
link cannot both win.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DashboardLink, DashboardSecret, DashboardSession

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=9)
_SIGNATURE_BYTES = 16


class LinkRefusal(enum.StrEnum):
    FORGED = "forged"  # bad signature, malformed, or no such link
    REUSED = "reused"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LinkUse:
    user_id: int | None
    refusal: LinkRefusal | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _signature(secret: bytes, raw: bytes) -> bytes:
    return hmac.new(secret, b"dashboard-link:" + raw, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


async def signing_secret(session: AsyncSession, configured: str | None) -> bytes:
    """``SASI_DASHBOARD_SECRET``, or the one made on first use and kept in the database."""
    if configured:
        return configured.encode("utf-8")
    stored = await session.scalar(select(DashboardSecret.secret).order_by(DashboardSecret.id))
    if stored is None:
        stored = secrets.token_urlsafe(48)
        session.add(DashboardSecret(secret=stored))
        await session.flush()
    return stored.encode("ascii")


async def create_link(session: AsyncSession, secret: bytes, user_id: int, now: datetime) -> str:
    """A new link token for ``user_id`` (the caller commits)."""
    raw = secrets.token_bytes(32)
    session.add(
        DashboardLink(
            token_hash=digest(raw), user_id=user_id, created_at=now, expires_at=now + LINK_LIFETIME
        )
    )
    return f"{_b64(raw)}.{_b64(_signature(secret, raw))}"


async def use_link(session: AsyncSession, secret: bytes, token: str, now: datetime) -> LinkUse:
    """Spend a link: whose it was, or why it is refused (the caller commits)."""
    body, _, signature = token.partition(".")
    try:
        raw, given = _unb64(body), _unb64(signature)
    except (ValueError, TypeError):
        return LinkUse(None, LinkRefusal.FORGED)
    if len(raw) != 32 or not hmac.compare_digest(given, _signature(secret, raw)):
        return LinkUse(None, LinkRefusal.FORGED)
    token_hash = digest(raw)
    spent = await session.execute(
        update(DashboardLink)
        .where(
            DashboardLink.token_hash == token_hash,
            DashboardLink.used_at.is_(None),
            DashboardLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(DashboardLink.user_id)
    )
    user_id = spent.scalar_one_or_none()
    if user_id is not None:
        return LinkUse(user_id)
    link = await session.scalar(select(DashboardLink).where(DashboardLink.token_hash == token_hash))
    if link is None:
        return LinkUse(None, LinkRefusal.FORGED)
    if link.used_at is not None:
        return LinkUse(link.user_id, LinkRefusal.REUSED)
    return LinkUse(link.user_id, LinkRefusal.EXPIRED)


async def open_session(session: AsyncSession, user_id: int, now: datetime, ends: datetime) -> str:
    """A new session until ``ends`` (at most SESSION_LIFETIME); the cookie's value."""
    raw = secrets.token_bytes(32)
    session.add(
        DashboardSession(
            session_hash=digest(raw),
            user_id=user_id,
            created_at=now,
            expires_at=min(ends, now + SESSION_LIFETIME),
        )
    )
    return _b64(raw)


async def find_session(
    session: AsyncSession, cookie: str, now: datetime
) -> DashboardSession | None:
    """The live session this cookie opens, if any."""
    try:
        raw = _unb64(cookie)
    except (ValueError, TypeError):
        return None
    if len(raw) != 32:
        return None
    found = await session.scalar(
        select(DashboardSession).where(DashboardSession.session_hash == digest(raw))
    )
    if found is None or found.revoked_at is not None or found.expires_at <= now:
        return None
    return found


async def revoke_session(session: AsyncSession, session_id: int, now: datetime) -> None:
    await session.execute(
        update(DashboardSession)
        .where(DashboardSession.id == session_id, DashboardSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def csrf_token(secret: bytes, session_hash: str) -> str:
    """The sign-out form's token: tied to the session, useless without its cookie."""
    return _b64(hmac.new(secret, b"csrf:" + session_hash.encode(), hashlib.sha256).digest()[:18])
