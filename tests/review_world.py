"""The roles world with ideas to review: two in Dinkes (one a possible duplicate the submitter
chose to continue), one in Disdukcapil, and unrelated ideas that give the index its contrast."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from storage.audit import entries
from storage.models import AuditEntry, Idea, IdeaCollaborator, IdeaStatus, Stage, User
from storage.outbox import OutboxMessage
from tests.chat import ChatDriver
from tests.roles_world import World, build_world

PROBLEM = "Antrian panjang di puskesmas membuat warga lanjut usia menunggu berjam-jam"
IDEA = "Pendaftaran pasien lansia dijemput kader posyandu lewat WhatsApp sebelum hari kunjungan"
SIMILAR_PROBLEM = "Warga lanjut usia antri berjam-jam di puskesmas karena antrian panjang"
SIMILAR_IDEA = "Kader posyandu menjemput pendaftaran pasien lansia lewat WhatsApp sebelum kunjungan"

# Unrelated ideas: without them every word is in every idea and nothing stands out.
BACKGROUND = [
    ("Dinkes", "SIGIZI", "Balita kurang gizi tidak terpantau rutin", "Aplikasi timbang balita"),
    ("Dinkes", "DBD TUNTAS", "Kasus demam berdarah naik saat hujan", "Jumantik digital per RT"),
    ("Disdukcapil", "KTP KELILING", "Warga desa jauh dari kantor dukcapil", "Mobil layanan KTP"),
    ("Disdukcapil", "AKTA CEPAT", "Akta kelahiran terlambat diurus", "Akta terbit di rumah sakit"),
    ("Bappeda", "MUSRENBANG ONLINE", "Usulan warga hilang di berkas", "Usulan musrenbang daring"),
]


@dataclass
class ReviewWorld:
    world: World
    first: int  # SI-JEMPOL, Dinkes, owned by the coordinator
    duplicate: int  # JEMPUT LANSIA, Dinkes, owned by the ASN, flagged as a possible duplicate
    other_opd: int  # KTP KELILING, Disdukcapil

    @property
    def chat(self) -> ChatDriver:
        return self.world.chat


async def add_idea(
    world: World,
    owner: str,
    opd: str,
    name: str,
    problem: str,
    idea: str,
    age_days: int = 0,
    verified: bool = False,
) -> int:
    database = world.chat.core.database
    now = datetime.now(UTC) - timedelta(days=age_days)
    async with database.writing(), database.sessions() as session, session.begin():
        row = Idea(
            name=name,
            problem=problem,
            idea=idea,
            opd_id=world.opds[opd],
            owner_id=world.users[owner],
            stage=Stage.DIAGNOSE,
            status=IdeaStatus.VERIFIED if verified else IdeaStatus.SUBMITTED,
            reviewed_at=now if verified else None,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        return row.id


async def build_review_world(chat: ChatDriver) -> ReviewWorld:
    world = await build_world(chat)
    for n, (opd, name, problem, idea) in enumerate(BACKGROUND):
        # Reviewed long ago, except one new idea of Disdukcapil.
        verified = name != "KTP KELILING"
        await add_idea(world, "admin", opd, name, problem, idea, 30 + n, verified)
    ktp = await idea_id_named(world, "KTP KELILING")
    await chat.submit_idea("coordinator", "SI-JEMPOL", PROBLEM, IDEA)
    await chat.submit_idea(
        "asn", "JEMPUT LANSIA", SIMILAR_PROBLEM, SIMILAR_IDEA, on_duplicate="dup:continue"
    )
    for person in ("coordinator", "asn"):
        await chat.say(person, "/batal")
    return ReviewWorld(
        world,
        await idea_id_named(world, "SI-JEMPOL"),
        await idea_id_named(world, "JEMPUT LANSIA"),
        ktp,
    )


async def idea_id_named(world: World, name: str) -> int:
    async with world.chat.core.database.sessions() as session:
        found = await session.scalar(select(Idea.id).where(Idea.name == name))
        assert found is not None
        return found


async def idea(world: World | ReviewWorld, idea_id: int) -> Idea:
    chat = world.chat
    async with chat.core.database.sessions() as session:
        row = await session.get(Idea, idea_id)
        assert row is not None
        return row


async def collaborators(world: ReviewWorld, idea_id: int) -> list[int]:
    async with world.chat.core.database.sessions() as session:
        rows = await session.scalars(
            select(IdeaCollaborator.user_id)
            .where(IdeaCollaborator.idea_id == idea_id)
            .order_by(IdeaCollaborator.user_id)
        )
        return list(rows)


async def add_collaborator(world: ReviewWorld, idea_id: int, person: str) -> None:
    database = world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        session.add(IdeaCollaborator(idea_id=idea_id, user_id=world.world.users[person]))


async def set_locale(world: ReviewWorld, person: str, locale: str) -> None:
    database = world.chat.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        await session.execute(
            update(User).where(User.id == world.world.users[person]).values(locale=locale)
        )


async def audit_of(world: ReviewWorld, idea_id: int) -> list[AuditEntry]:
    async with world.chat.core.database.sessions() as session:
        return list(await entries(session, subject=f"idea:{idea_id}"))


async def outbox(world: ReviewWorld, kind: str) -> list[OutboxMessage]:
    async with world.chat.core.database.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
        return list(rows)
