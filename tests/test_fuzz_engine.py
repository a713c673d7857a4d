"""The conversation engine under generated input (issue 18): thousands of steps across 50
people, of every kind a person or a channel can produce, with restarts between steps.

Invariants: no exception leaves ``Engine.handle``; no reply is the internal-error message;
every private message is answered; every idea whose saving was confirmed is in the database
afterwards, with the fields its summary showed.

``make test`` runs a fixed seed and budget; ``SASI_FUZZ_STEPS=100000 .venv/bin/python -m
pytest tests/test_fuzz_engine.py`` runs longer (``SASI_FUZZ_SEED`` picks another seed).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import Core, open_core
from bot.config import Settings
from bot.demo import DEMO_DIR
from bot.opd_import import import_opds, read_opd_csv
from handlers.engine import Engine
from handlers.i18n import Translator
from handlers.intake import SUMMARY_FIELD_CHARS
from handlers.messages import Attachment, Incoming, Reply
from handlers.text import shorten
from storage.models import Idea, Identity

# make test runs 10,000 steps (issue 18: at least that, under a minute); more for long runs.
STEPS = int(os.environ.get("SASI_FUZZ_STEPS", "10000"))
SEED = int(os.environ.get("SASI_FUZZ_SEED", "20261202"))
PEOPLE = 50
STEPS_PER_EXAMPLE = 500
CHANNEL = "terminal"

ID = Translator("id")
INTERNAL_ERROR = {ID("error.internal"), Translator("en")("error.internal")}
SAVED = re.compile(r'Ide "(?P<name>.*)" tersimpan dengan nomor #(?P<id>\d+)', re.DOTALL)

COMMANDS = [
    "/mulai", "/start", "/ide", "/idea", "/ideku", "/myideas", "/batal", "/cancel",
    "/bantuan", "/help", "/bahasa", "/language", "/lapor", "/tinjau", "/siaran", "/rekap",
    "/ekspor", "/tidakada", "/", "//", "/ide@sasi_bot",
]  # fmt: skip
PLAUSIBLE = [
    "Rina Marlina", "kesehatan", "dinas", "dukcapil", "Pranata Komputer", "50 juta", "0",
    "1", "2", "3", "11", "Lewati", "simpan", "ya", "tidak", "SI-JEMPOL",
    "Lansia sulit datang ke puskesmas untuk cek kesehatan rutin setiap bulan.",
    "Petugas puskesmas menjemput lansia dengan jadwal yang dipesan lewat WhatsApp.",
    "Meningkatkan cakupan layanan bagi warga.", "Warga lanjut usia", "Rp 1.500.000",
]  # fmt: skip
MARKUP = ["<b>tebal</b>", "*tebal*", "_miring_", "`kode`", "<script>x</script>", "&amp;", "[a](b)"]
GARBAGE_PAYLOADS = ["", "x", "opd:999999", "idea:-1", "summary:save", "page:next", "dup:join:1",
                    "edit:none", "/ideku 99999", "a" * 64, "attach:done", "lang:xx"]  # fmt: skip


def _text_pool(size: int = 512) -> list[str]:
    """Texts of every kind a person types, drawn once from the seed: short and huge, emoji,
    markup, numbers, control characters, commands with arguments."""
    rng = random.Random(SEED)
    alphabet = "abcdefghij KLMNO 0123456789 .,;:!?<>&*_`[]()/\\\n\t😀🇮🇩🙏🏽👩‍👩‍👧\u200b\ufeffزé"
    pool = [*PLAUSIBLE, *MARKUP, "", " ", "\n\n", "\x00", "😀", "0" * 30, "-1", "1e9", "९"]
    pool += [f"{rng.choice(COMMANDS)} {rng.choice([*PLAUSIBLE, '', '12', 'abc', '-5'])}"
             for _ in range(40)]  # fmt: skip
    pool += [str(rng.randint(-(10**20), 10**20)) for _ in range(20)]
    while len(pool) < size:
        length = rng.choice([1, 5, 20, 100, 1000, 4095, 4096, 4097, 6000])
        pool.append("".join(rng.choice(alphabet) for _ in range(length)))
    return pool


TEXTS = _text_pool()


def nip(person: int) -> str:
    # A valid NIP per person: birth date, appointment month, gender, sequence.
    return f"199001{1 + person % 28:02d}201503{1 + person % 2}{person:03d}"


REGISTRATION = ["/mulai", "Rina Marlina", "<nip>", "kesehatan", ">opd:", "Pranata Komputer"]
INTAKE = [
    "/ide", "SI-JEMPOL {n}", "Lansia sulit datang ke puskesmas untuk cek kesehatan {n}.",
    "Petugas menjemput lansia dengan jadwal yang dipesan {n}.", ">dup:continue",
    "Meningkatkan cakupan layanan.", "Warga terlayani lebih cepat.", "Warga lanjut usia",
    ">digital:no", ">form:pelayanan_publik", "kesehatan", ">initiator:asn", ">opd:own",
    "50 juta", ">attach:done", ">summary:save",
]  # fmt: skip


@dataclass
class Person:
    """One of the fuzzed people; ``script`` is where they are in a plain registration and
    intake, which the "follow" steps carry on between the generated ones."""

    index: int
    offered: list[str] = field(default_factory=list)
    summary: str | None = None
    script: int = 0

    def next_scripted(self) -> tuple[str, bool]:
        """(text or payload prefix, whether it is a button) of the next scripted step."""
        script = REGISTRATION + INTAKE * 1000
        item = script[self.script % len(script)]
        self.script += 1
        if item == ">dup:continue" and not any(p.startswith("dup:") for p in self.offered):
            return self.next_scripted()  # no duplicate warning this time
        item = item.replace("<nip>", nip(self.index)).replace("{n}", str(self.script))
        return (item[1:], True) if item.startswith(">") else (item, False)

    @property
    def sender_id(self) -> str:
        return f"fuzz{self.index:02d}"


@dataclass
class Run:
    core: Core
    attachment: Path
    people: list[Person]
    seen_payloads: list[str] = field(default_factory=list)
    confirmed: list[tuple[int, str, str]] = field(default_factory=list)  # (id, person, summary)
    steps: int = 0
    restarts: int = 0

    def restart(self) -> None:
        """A new engine on the same database: what a process restart keeps is the data."""
        old = self.core.engine
        self.core.engine = Engine(
            database=old.database,
            similarity=old.similarity,
            default_locale=old.default_locale,
            timezone=old.timezone,
        )
        self.restarts += 1

    async def step(self, person: Person, incoming: Incoming) -> None:
        outcome = await self.core.handle(incoming)  # an exception fails the test here
        self.steps += 1
        replies: list[Reply] = outcome.replies
        assert not outcome.duplicate
        assert replies, f"no answer to {incoming!r}"
        for reply in replies:
            assert reply.text not in INTERNAL_ERROR, f"internal error for {incoming!r}"
        offered = [c.payload for r in replies for c in r.choices]
        if offered:
            person.offered = offered
            self.seen_payloads.extend(offered)
            del self.seen_payloads[:-200]
        for reply in replies:
            if reply.text.startswith(ID("intake.summary_title")):
                person.summary = reply.text
            saved = SAVED.search(reply.text)
            if saved and person.summary is not None:
                self.confirmed.append((int(saved["id"]), person.sender_id, person.summary))


# A step is drawn without knowing the conversation's state (so Hypothesis can replay and
# shrink it): "offered" and "stale" pick by index among what is on offer when it runs.
Step = tuple[int, str, object]

steps_strategy = st.tuples(
    # Half the steps go to a few people, so some get deep into their conversations.
    st.one_of(st.integers(0, 3), st.integers(0, PEOPLE - 1)),
    st.sampled_from(
        ["follow"] * 40
        + ["offered"] * 6
        + ["save"] * 2
        + ["nip"] * 2
        + ["plausible"] * 6
        + [
            "text",
            "text",
            "stale",
            "garbage",
            "batal",
            "photo",
            "photo_caption",
            "sticker",
            "too_large",
            "failed",
            "none",
            "restart",
        ]
    ),
    st.integers(0, 2**16),
)


def incoming_for(run: Run, person: Person, kind: str, arg: object) -> Incoming | None:
    """The message a step stands for; None for a restart."""
    base = {"channel": CHANNEL, "sender_id": person.sender_id}
    number = int(arg) if isinstance(arg, int) else 0
    text = TEXTS[number % len(TEXTS)]
    photo = Attachment("photo", run.attachment, "foto.jpg", "image/jpeg", 10)
    if kind == "restart":
        run.restart()
        return None
    if kind == "follow":
        item, button = person.next_scripted()
        if not button:
            return Incoming(**base, text=item)
        match = next((p for p in person.offered if p.startswith(item)), None)
        return Incoming(**base, choice=match or item)
    if kind == "save":
        wanted = [p for p in ("summary:save", "attach:done") if p in person.offered]
        kind = "offered" if not wanted else kind
        if wanted:
            return Incoming(**base, choice=wanted[0])
    if kind == "offered":
        if not person.offered:
            return Incoming(**base, text=PLAUSIBLE[number % len(PLAUSIBLE)])
        return Incoming(**base, choice=person.offered[number % len(person.offered)])
    if kind == "stale":
        pool = run.seen_payloads or ["opd:1"]
        return Incoming(**base, choice=pool[number % len(pool)])
    if kind == "garbage":
        return Incoming(**base, choice=GARBAGE_PAYLOADS[number % len(GARBAGE_PAYLOADS)])
    simple: dict[str, Incoming] = {
        "nip": Incoming(**base, text=nip(person.index)),
        "plausible": Incoming(**base, text=PLAUSIBLE[number % len(PLAUSIBLE)]),
        "text": Incoming(**base, text=text),
        "batal": Incoming(**base, text="/batal"),
        "photo": Incoming(**base, attachments=(photo,)),
        "photo_caption": Incoming(**base, attachments=(photo,), text=text),
        "sticker": Incoming(**base, unsupported="sticker"),
        "too_large": Incoming(**base, too_large=True),
        "failed": Incoming(**base, failed=True),
        "none": Incoming(**base, text=None),
    }
    return simple[kind]


async def run_steps(settings_: Settings, attachment: Path, steps: list[Step]) -> Run:
    async with open_core(settings_, migrate=False) as core:
        await import_opds(core.database, read_opd_csv(DEMO_DIR / "opds.csv"))
        run = Run(core, attachment, [Person(i) for i in range(PEOPLE)])
        for person_index, kind, arg in steps:
            person = run.people[person_index]
            incoming = incoming_for(run, person, kind, arg)
            if incoming is not None:
                await run.step(person, incoming)
        await check_confirmed_ideas(run)
        return run


def test_the_engine_survives_generated_conversations(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    examples = max(1, STEPS // STEPS_PER_EXAMPLE)
    totals = {"steps": 0, "saved": 0, "restarts": 0}

    @seed(SEED)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(steps_strategy, min_size=STEPS_PER_EXAMPLE, max_size=STEPS_PER_EXAMPLE))
    def conversations(steps: list[Step]) -> None:
        # Each example on a fresh copy of the migrated database, in its own event loop.
        folder = tmp_path_factory.mktemp("fuzz")
        shutil.copyfile(sqlite_template, folder / "sasi.db")
        attachment = folder / "foto.jpg"
        attachment.write_bytes(b"\xff\xd8\xff\xe0 foto")
        settings_ = Settings(
            database_url=f"sqlite+aiosqlite:///{folder / 'sasi.db'}",
            data_dir=folder / "data",
            attachments_dir=folder / "attachments",
        )
        run = asyncio.run(run_steps(settings_, attachment, steps))
        totals["steps"] += run.steps
        totals["saved"] += len(run.confirmed)
        totals["restarts"] += run.restarts
        shutil.rmtree(folder, ignore_errors=True)

    conversations()
    assert totals["steps"] + totals["restarts"] >= examples * STEPS_PER_EXAMPLE
    print(f"fuzz: {totals}")


async def check_confirmed_ideas(run: Run) -> None:
    """Every idea whose saving was confirmed is stored, owned by its submitter, with the
    fields the summary showed before the confirmation."""
    async with run.core.database.sessions() as session:
        for idea_id, sender_id, summary in run.confirmed:
            idea = await session.get(Idea, idea_id)
            assert idea is not None, f"idea #{idea_id} was confirmed but is not stored"
            owner = await session.scalar(
                select(Identity.user_id).where(
                    Identity.channel == CHANNEL, Identity.external_id == sender_id
                )
            )
            assert idea.owner_id == owner
            for name, value in (
                ("name", idea.name),
                ("problem", idea.problem),
                ("idea", idea.idea),
            ):
                line = f"{ID(f'field.{name}')}: {shorten(value, SUMMARY_FIELD_CHARS)}"
                assert line in summary, (idea_id, line)
