"""Reading the ASN roster: who a NIP belongs to according to the Pemda."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RosterEntry

# Academic and religious titles people write or leave out as they please ("dr.", "S.Kom",
# "Hj."): they do not make a name another person's.
_TITLES = frozenset(
    [
        "dr",
        "drg",
        "drs",
        "dra",
        "ir",
        "h",
        "hj",
        "prof",
        "st",
        "se",
        "sh",
        "sm",
        "ssi",
        "skom",
        "skm",
        "sked",
        "sp",
        "spd",
        "sip",
        "sos",
        "ssos",
        "sst",
        "msi",
        "mm",
        "mkes",
        "mpd",
        "mh",
        "mt",
        "mkom",
        "mph",
        "ma",
        "msc",
        "phd",
        "amd",
        "amkeb",
        "amkep",
        "apt",
        "ners",
    ]
)


async def roster_entry(session: AsyncSession, nip: str) -> RosterEntry | None:
    return await session.scalar(select(RosterEntry).where(RosterEntry.nip == nip))


def name_words(name: str) -> list[str]:
    """The words of a name without titles, case or punctuation."""
    words = []
    for part in re.split(r"[\s,]+", name.casefold()):
        word = re.sub(r"[^\w]", "", part)
        if word and word not in _TITLES and not word.isdigit():
            words.append(word)
    return words


def same_person_name(roster_name: str, typed: str) -> bool:
    """Whether a typed name is the roster's name, give or take titles, case and punctuation."""
    return name_words(roster_name) == name_words(typed)
