"""``python -m bot seed-demo``: a sample Pemda (Kabupaten Sukamaju) with OPDs, ASN and ideas,
so a newcomer sees registration, intake and a duplicate warning at once. The data are fictional."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.opd_import import import_opds, read_opd_csv
from storage.db import Database
from storage.models import Idea, IdeaStatus, Identity, Opd, Stage, User, utcnow

DEMO_DIR = Path(__file__).parent / "demo_data"


async def seed_demo(database: Database) -> tuple[int, int]:
    """Load the demo OPDs and ideas once. Returns (OPDs added, ideas added)."""
    opds_added, _ = await import_opds(database, read_opd_csv(DEMO_DIR / "opds.csv"))
    ideas_added = 0
    async with database.writing(), database.sessions() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(Idea)):
            return opds_added, 0  # already seeded (or real data): never duplicate
        opds = {o.short_name: o for o in await session.scalars(select(Opd))}
        owners: dict[str, User] = {}
        with (DEMO_DIR / "ideas.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        start = utcnow() - timedelta(days=len(rows))
        for number, row in enumerate(rows):
            opd = opds[row["opd_short_name"]]
            owner = owners.get(row["owner_nip"])
            if owner is None:
                owner = await session.scalar(select(User).where(User.nip == row["owner_nip"]))
            if owner is None:
                owner = User(
                    full_name=row["owner_name"],
                    nip=row["owner_nip"],
                    opd_id=opd.id,
                    position="ASN",
                    registered_at=start,
                )
                session.add(owner)
                await session.flush()
                # A terminal identity lets a newcomer act as a demo owner with /as NIP.
                session.add(Identity(user_id=owner.id, channel="terminal", external_id=owner.nip))
            owners[row["owner_nip"]] = owner
            created = start + timedelta(days=number)
            session.add(
                Idea(
                    name=row["name"],
                    problem=row["problem"],
                    idea=row["idea"],
                    goal=row["goal"],
                    benefit=row["benefit"],
                    beneficiaries=row["beneficiaries"],
                    is_digital=row["is_digital"].strip().lower() == "true",
                    form=row["form"],
                    affair=row["affair"],
                    initiator=row["initiator"],
                    opd_id=opd.id,
                    owner_id=owner.id,
                    stage=Stage(row["stage"]),
                    status=IdeaStatus(row["status"]),
                    created_at=created,
                    updated_at=created,
                )
            )
            ideas_added += 1
    return opds_added, ideas_added
