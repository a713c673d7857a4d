"""A small Pemda whose digest figures are computed by hand (see tests/test_figures.py).

Three OPDs: Alpha and Beta with ideas, Gamma without. The moment is Monday 15 March 2027,
08:00 UTC; "this week" is the seven days before it; the monitoring period is 2027-03.

Roster: Alpha N1 (II.a), N2 (III.b), N3, N4; Beta N5 (IV.a), N6; Gamma N7 (I.b: echelon I,
not counted among II-IV officials). People: u1=N1, u2=N2, u3=N3 in Alpha; u5=N5, u6=N6 in
Beta; ux in Alpha with a NIP not on the roster.

Ideas (created; stage, status):
  i1 Alpha u1   10 Jan   deliver  verified   launched 1 Feb, reported 2027-03 (budget, staff)
                                             eviden regulasi, sdm
  i2 Alpha u3   10 Mar   deliver  submitted  no launch date, not reported; eviden regulasi x2
  i3 Alpha u2   12 Mar   diagnose withdrawn
  i4 Beta  u5    1 Dec   display  verified   eviden sdm; u2 collaborates on it
  i5 Beta  u6   14 Mar   deliver  verified   launches 1 Apr (not due yet), reported 2027-03
                                             (budget, regulation) and 2027-02 (budget)
  i6 Beta  u5    1 Mar   deliver  rejected
  i7 Alpha ux    9 Mar   design   submitted
Duplicate decisions: u1 continue 10 Mar, u5 join 11 Mar, u3 cancel 12 Mar, u6 replicate
1 Mar (before the week).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from storage.db import Database
from storage.models import (
    Idea,
    IdeaAttachment,
    IdeaCollaborator,
    IdeaStatus,
    MonitoringReport,
    Opd,
    RosterEntry,
    SimilarityDecision,
    SimilarityDecisionKind,
    Stage,
    User,
)

MOMENT = datetime(2027, 3, 15, 8, 0, tzinfo=UTC)
PERIOD = "2027-03"
LAUNCHED_BY = date(2027, 3, 15)


def nip(n: int) -> str:
    return f"19800101200501100{n}"


@dataclass
class Fixture:
    opds: dict[str, int]
    users: dict[str, int]
    ideas: dict[str, int]


def _at(month: int, day: int, year: int = 2027) -> datetime:
    return datetime(year, month, day, 9, 0, tzinfo=UTC)


async def seed(database: Database) -> Fixture:
    async with database.writing(), database.sessions() as session, session.begin():
        opds = {
            name: Opd(name=f"Dinas {name}", short_name=name) for name in ("Alpha", "Beta", "Gamma")
        }
        session.add_all(opds.values())
        await session.flush()
        roster = [
            (1, "Alpha", "II.a"),
            (2, "Alpha", "III.b"),
            (3, "Alpha", None),
            (4, "Alpha", None),
            (5, "Beta", "IV.a"),
            (6, "Beta", None),
            (7, "Gamma", "I.b"),
        ]
        for n, opd, echelon in roster:
            session.add(
                RosterEntry(
                    nip=nip(n),
                    full_name=f"Pegawai {n}",
                    opd_id=opds[opd].id,
                    position="Staf",
                    echelon=echelon,
                )
            )
        people = {
            "u1": (1, "Alpha"),
            "u2": (2, "Alpha"),
            "u3": (3, "Alpha"),
            "u5": (5, "Beta"),
            "u6": (6, "Beta"),
            "ux": (9, "Alpha"),
        }
        users = {
            key: User(
                full_name=f"Orang {key}",
                nip=nip(n),
                opd_id=opds[opd].id,
                locale="id",
                registered_at=_at(1, 1),
            )
            for key, (n, opd) in people.items()
        }
        session.add_all(users.values())
        await session.flush()
        rows = {
            "i1": ("Alpha", "u1", _at(1, 10), Stage.DELIVER, IdeaStatus.VERIFIED, date(2027, 2, 1)),
            "i2": ("Alpha", "u3", _at(3, 10), Stage.DELIVER, IdeaStatus.SUBMITTED, None),
            "i3": ("Alpha", "u2", _at(3, 12), Stage.DIAGNOSE, IdeaStatus.WITHDRAWN, None),
            "i4": ("Beta", "u5", _at(12, 1, 2026), Stage.DISPLAY, IdeaStatus.VERIFIED, None),
            "i5": ("Beta", "u6", _at(3, 14), Stage.DELIVER, IdeaStatus.VERIFIED, date(2027, 4, 1)),
            "i6": ("Beta", "u5", _at(3, 1), Stage.DELIVER, IdeaStatus.REJECTED, None),
            "i7": ("Alpha", "ux", _at(3, 9), Stage.DESIGN, IdeaStatus.SUBMITTED, None),
        }
        ideas = {}
        for key, (opd, owner, created, stage, status, launch) in rows.items():
            ideas[key] = Idea(
                name=f"Ide {key}",
                problem="Masalah",
                idea="Gagasan",
                opd_id=opds[opd].id,
                owner_id=users[owner].id,
                stage=stage,
                status=status,
                launch_date=launch,
                created_at=created,
            )
        session.add_all(ideas.values())
        await session.flush()
        session.add(IdeaCollaborator(idea_id=ideas["i4"].id, user_id=users["u2"].id))
        for idea, period, obstacles in (
            ("i1", "2027-03", ["budget", "staff"]),
            ("i5", "2027-03", ["budget", "regulation"]),
            ("i5", "2027-02", ["budget"]),
        ):
            session.add(
                MonitoringReport(
                    idea_id=ideas[idea].id,
                    period=period,
                    progress=50,
                    done="Sudah",
                    obstacles=obstacles,
                    next_step="Lanjut",
                )
            )
        eviden = [("i1", "regulasi"), ("i1", "sdm"), ("i2", "regulasi"), ("i2", "regulasi")]
        for idea, indicator in [*eviden, ("i4", "sdm")]:
            session.add(
                IdeaAttachment(
                    idea_id=ideas[idea].id,
                    kind="document",
                    file_name="bukti.pdf",
                    storage_path="/tmp/bukti.pdf",
                    indicator=indicator,
                )
            )
        for user, kind, created in (
            ("u1", SimilarityDecisionKind.CONTINUE, _at(3, 10)),
            ("u5", SimilarityDecisionKind.JOIN, _at(3, 11)),
            ("u3", SimilarityDecisionKind.CANCEL, _at(3, 12)),
            ("u6", SimilarityDecisionKind.REPLICATE, _at(3, 1)),
        ):
            session.add(
                SimilarityDecision(
                    user_id=users[user].id,
                    draft_name="Draf",
                    matched_doc_id="idea:1",
                    score=0.9,
                    decision=kind,
                    created_at=created,
                )
            )
        return Fixture(
            {k: v.id for k, v in opds.items()},
            {k: v.id for k, v in users.items()},
            {k: v.id for k, v in ideas.items()},
        )
