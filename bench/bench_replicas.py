"""Replicas under load: 1, 2 and 4 ``python -m bot run`` processes on one PostgreSQL.

    .venv/bin/python bench/bench_replicas.py                 # 1,000 ASN, 1/2/4 replicas
    .venv/bin/python bench/bench_replicas.py --asn 100       # a quick run
    .venv/bin/python bench/bench_replicas.py --replicas 2    # one replica count only

Each run gets a fresh PostgreSQL database (migrated once, by ``python -m bot migrate``, with
the demo Pemda's OPDs), the loopback Telegram Bot API fake and WhatsApp Graph API fake, and
N replicas in webhook mode on ports of their own. A round-robin driver (a stand-in for the
reverse proxy: the next replica when one refuses or is down) posts every webhook; ``--asn``
simulated ASN, one in five on WhatsApp, all at once, each registering and then submitting
an idea (the steps of tests/chat.py: 21 messages each), each message sent once the answer
to the one before arrived. Figures: updates/s over the run, and the end-to-end latency of
each update (webhook POST → the first reply arriving at the fake), p50/p95. A person asked
about a near-duplicate (someone's idea saved meanwhile) answers "continue with mine"; one
answered with SASI's system error ("send it again") sends it again; both are counted. Each
person who broke off has the last messages they saw written to ``broken-off.txt`` in the
run's folder; ``BENCH_PROFILE=1`` runs every replica under cProfile (a ``.prof`` per replica).

During the 2-replica run one replica is killed with SIGKILL half-way and started again;
the run then counts updates lost (accepted, never processed), processed twice (a person's
saved turns beyond the messages they sent), messages sent twice (the same message to a
chat twice with nothing from the person in between) and conversations not finished (no
idea saved). ``--kill sender`` kills the elected sender instead of the other replica.

The channels' budgets are raised for the run (TELEGRAM_MESSAGES_PER_SECOND): it measures
how many updates replicas process, not Telegram's 30 messages a second, which caps one bot
whatever the number of replicas (bench/bench_outbox.py measures sending at that limit).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from tests.fakes.graph_api import (  # noqa: E402
    FakeGraphApi,
    load_payload,
    new_message_id,
    offered_choices,
    signed,
    visible_text,
)
from tests.fakes.telegram_api import FakeTelegramApi, SentMessage, free_port  # noqa: E402

SECRET = "bench-webhook-secret"
WA_SECRET = "bench-app-secret"
WA_VERIFY = "bench-verify"
STEP_TIMEOUT = 180.0  # no answer this long: the person sends the update again (same id)
MAX_DELIVERIES = 3
DUPLICATE_ANSWER = ("press", "dup:continue")
DUPLICATE_INTRO = "Mohon periksa dulu: ada"  # dup.intro, the near-duplicate question's start
SYSTEM_ERROR = "Maaf, terjadi gangguan di sistem kami"  # error.internal: "send it again"
_WORDS = (
    "layanan data warga desa antrean surat izin sehat sekolah pasar jalan air sampah "
    "arsip pajak bantuan posyandu puskesmas klinik gizi bayi lansia kader aplikasi peta "
    "jadwal rujukan obat vaksin laporan keluhan kartu nikah akta usaha mikro petani ikan "
    "pupuk irigasi banjir hutan wisata budaya pemuda olahraga literasi perpustakaan"
)
WORDS = _WORDS.split()


def idea_texts(rng: random.Random) -> tuple[str, str, str]:
    """An idea of its own for each ASN: near-duplicates would add a question to the flow."""
    words = rng.sample(WORDS, 9)
    tag = uuid.uuid4().hex[:6]
    return (
        f"Inovasi {words[0]} {words[1]} {tag}",
        f"Masalah {words[2]} {words[3]} {words[4]} di kecamatan {tag}.",
        f"Gagasan {words[5]} {words[6]} {words[7]} {words[8]} berbasis {tag}.",
    )


def script(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """The 21 messages of tests/chat.py's register and submit_idea, for ASN number n."""
    name, problem, idea = idea_texts(rng)
    nip = f"1991{n // 900 % 12 + 1:02d}08201903{1 + n % 2}{n % 900 + 1:03d}"
    return [
        ("say", "/mulai"), ("say", "Rina Marlina"), ("say", nip), ("say", "kesehatan"),
        ("pick", "Kesehatan|Dinkes"), ("say", "Pranata Komputer"),
        ("say", "/ide"), ("say", name), ("say", problem), ("say", idea),
        ("say", "Meningkatkan cakupan layanan bagi warga."),
        ("say", "Warga terlayani lebih cepat dan murah."), ("say", "Warga lanjut usia"),
        ("press", "digital:no"), ("press", "form:pelayanan_publik"), ("say", "kesehatan"),
        ("press", "initiator:asn"), ("press", "opd:own"), ("say", "50 juta"),
        ("press", "attach:done"), ("press", "summary:save"),
    ]  # fmt: skip


# -- the replicas --------------------------------------------------------------------------------


@dataclass
class Replica:
    index: int
    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(self.env)
        env.update(
            SASI_HTTP_PORT=str(self.port),
            TELEGRAM_WEBHOOK_URL=f"{self.url}/telegram/webhook",
        )
        self.starts += 1
        self.log = (self.workdir / f"replica-{self.index}-{self.starts}.log").open("wb")
        profile = []
        if os.environ.get("BENCH_PROFILE"):
            # Where a replica's time goes: a profile per replica, written at its stop.
            out = self.workdir / f"replica-{self.index}-{self.starts}.prof"
            profile = ["-m", "cProfile", "-o", str(out)]
        self.process = subprocess.Popen(
            [sys.executable, *profile, "-m", "bot", "run"], env=env, cwd=self.workdir,
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        return self.process.returncode

    async def ready(self, http: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with http.get(f"{self.url}/readyz") as response:
                if response.status == 200:
                    body: dict[str, Any] = await response.json()
                    return body
        except (aiohttp.ClientError, TimeoutError):
            pass
        return None

    async def wait_ready(self, http: aiohttp.ClientSession, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while await self.ready(http) is None:
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / f"replica-{self.index}-{self.starts}.log").read_text()
                raise RuntimeError(f"replica {self.index} did not become ready:\n{log[-3000:]}")
            await asyncio.sleep(0.2)


# -- the driver: a round-robin reverse proxy and the simulated people ----------------------------


@dataclass
class Inbox:
    """What arrived for one chat, and when; an event per arrival."""

    times: list[float] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    sent_by_person: list[int] = field(default_factory=list)  # person's message count then
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class Driver:
    def __init__(
        self, replicas: list[Replica], telegram: FakeTelegramApi, whatsapp: FakeGraphApi
    ) -> None:
        self.replicas = replicas
        self.telegram = telegram
        self.whatsapp = whatsapp
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200), timeout=aiohttp.ClientTimeout(total=30)
        )
        # The kill's /readyz checks on a session of their own: with a thousand people the
        # webhooks' connections are all busy, and a check queued behind them timed out.
        self.control = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.turn = 0
        self.inboxes: dict[str, Inbox] = collections.defaultdict(Inbox)
        self.sent_count: collections.Counter[str] = collections.Counter()
        self.latencies: list[float] = []
        self.accepted: set[tuple[str, str]] = set()  # (channel, update key) answered 200
        self.refused = 0  # POSTs a replica refused or could not take (retried elsewhere)
        self.redelivered = 0  # updates sent again after no answer within STEP_TIMEOUT
        self.duplicate_questions = 0  # people asked about a near-duplicate (and continuing)
        self.sent_again = 0  # messages SASI failed on and asked for again
        self._hook_fakes()

    def _hook_fakes(self) -> None:
        keep = self.telegram._keep

        def kept(message: SentMessage) -> dict[str, Any]:
            self._arrived(f"t{message.chat['id']}", message)
            return keep(message)

        self.telegram._keep = kept  # type: ignore[method-assign]
        driver = self

        class Recording(list):  # type: ignore[type-arg]
            def append(self, body: Any) -> None:
                super().append(body)
                driver._arrived(f"w{body.get('to') or body.get('recipient')}", body)

        self.whatsapp.messages = Recording()

    def _arrived(self, chat: str, message: Any) -> None:
        inbox = self.inboxes[chat]
        inbox.times.append(time.monotonic())
        inbox.messages.append(message)
        inbox.sent_by_person.append(self.sent_count[chat])
        inbox.changed.set()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        """POST to the next replica; on a refusal or a dead one, the one after (a proxy's
        ``proxy_next_upstream``), until one takes it."""
        for attempt in range(200):
            replica = self.replicas[self.turn % len(self.replicas)]
            self.turn += 1
            try:
                async with self.http.post(f"{replica.url}{path}", data=body, headers=headers) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.refused += 1
            await asyncio.sleep(min(0.5, 0.01 * attempt))
        raise RuntimeError("no replica took the update")

    async def close(self) -> None:
        await self.http.close()
        await self.control.close()


class Person:
    """One simulated ASN: sends the script's messages one after another."""

    channel = ""

    def __init__(self, driver: Driver, n: int, steps: list[tuple[str, str]]) -> None:
        self.driver = driver
        self.n = n
        self.steps = steps
        self.chat = ""
        self.finished = False
        self.error: str | None = None
        self.step = 0

    async def run(self) -> None:
        try:
            await self._converse()
        except Exception as exc:
            # Counted as a conversation not finished; the run goes on.
            self.error = f"{type(exc).__name__}: {exc}"[:300]
            self.trace = self._trace()

    def _trace(self) -> str:
        """What the person saw last, for the broken-off conversations' log."""
        inbox = self.driver.inboxes[self.chat]
        lines = [f"{self.chat} step {self.step} {self.steps[max(0, self.step - 1)]}: {self.error}"]
        for message, sent in list(zip(inbox.messages, inbox.sent_by_person, strict=True))[-6:]:
            if isinstance(message, SentMessage):
                words = f"{(message.text or '')[:90]!r} {[d for _l, d in message.buttons]}"
            else:
                words = visible_text(message)[:120].replace("\n", " ")
            lines.append(f"    after msg {sent}: {words}")
        return "\n".join(lines)

    async def _converse(self) -> None:
        inbox = self.driver.inboxes[self.chat]
        self.steps = list(self.steps)
        self.step = 0
        while self.step < len(self.steps):
            action, value = self.steps[self.step]
            self.step += 1
            body, key = await self._next_update(inbox, action, value)
            before = len(inbox.times)
            self.driver.sent_count[self.chat] += 1
            started = time.monotonic()
            for attempt in range(MAX_DELIVERIES):
                await self.driver.post(*body)
                self.driver.accepted.add((self.channel, key))
                if await self._answered(inbox, before):
                    break
                if attempt + 1 < MAX_DELIVERIES:
                    self.driver.redelivered += 1  # Telegram and Meta deliver again, same id
            else:
                return  # never answered: counted as a conversation not finished
            self.driver.latencies.append(inbox.times[before] - started)
            if self._text(inbox.messages[before]).startswith(SYSTEM_ERROR):
                # SASI could not take the message and asked for it again: the person sends
                # it again (a new message, as typed anew).
                self.step -= 1
                self.driver.sent_again += 1
                continue
            asked = self._text(inbox.messages[before]).startswith(DUPLICATE_INTRO)
            if (asked or self._asks_about_duplicates(inbox)) and DUPLICATE_ANSWER not in self.steps:
                # The near-duplicate check found a close idea someone saved meanwhile: the
                # person answers "continue with mine", as tests/chat.py's submitter would.
                # Known by the answer's first words: on WhatsApp a long question comes as a
                # text and then its list, and the list can arrive after the driver looked
                # (the press then waits for the list to be offered).
                self.steps.insert(self.step, DUPLICATE_ANSWER)
                self.driver.duplicate_questions += 1
        self.finished = True

    def _asks_about_duplicates(self, inbox: Inbox) -> bool:
        raise NotImplementedError

    @staticmethod
    def _text(message: Any) -> str:
        if isinstance(message, SentMessage):
            return message.text or ""
        return visible_text(message)

    async def _next_update(
        self, inbox: Inbox, action: str, value: str
    ) -> tuple[tuple[str, bytes, dict[str, str]], str]:
        """The update for a step; a button waits for the message offering it (an answer in
        several messages may still be arriving)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            try:
                return self.update(action, value)
            except LookupError:
                if time.monotonic() > deadline:
                    raise
            inbox.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(inbox.changed.wait(), 1.0)

    async def _answered(self, inbox: Inbox, before: int) -> bool:
        deadline = time.monotonic() + STEP_TIMEOUT
        while len(inbox.times) <= before:
            inbox.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(inbox.changed.wait(), remaining)
        # The answer may come in more than one message (its buttons last): let it land.
        await asyncio.sleep(0.02)
        return True

    def update(self, action: str, value: str) -> tuple[tuple[str, bytes, dict[str, str]], str]:
        raise NotImplementedError


class TelegramPerson(Person):
    channel = "telegram"

    def __init__(self, driver: Driver, n: int, steps: list[tuple[str, str]]) -> None:
        super().__init__(driver, n, steps)
        self.user = driver.telegram.user(5_000_000 + n, f"ASN{n}")
        self.chat = f"t{self.user.id}"

    def update(self, action: str, value: str) -> tuple[tuple[str, bytes, dict[str, str]], str]:
        fake = self.driver.telegram
        if action == "say":
            payload = fake.message_update(self.user, value)
        else:
            message = self._last_with_buttons()
            data = value
            if action == "press" and value not in [d for _label, d in message.buttons]:
                raise LookupError(f"{self.chat}: no {value!r} offered yet")
            if action == "pick":
                found = [
                    d for label, d in message.buttons if any(v in label for v in value.split("|"))
                ]
                if not found:
                    raise LookupError(f"{self.chat}: no {value!r} in {message.buttons}")
                data = found[0]
            payload = fake.callback_update(self.user, message, data)
        update_id = next(fake._update_ids)
        payload = {"update_id": update_id, **payload}
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": SECRET,
        }
        return ("/telegram/webhook", json.dumps(payload).encode(), headers), str(update_id)

    def _asks_about_duplicates(self, inbox: Inbox) -> bool:
        last = inbox.messages[-1]
        return any(data == DUPLICATE_ANSWER[1] for _label, data in last.buttons)

    def _last_with_buttons(self) -> SentMessage:
        for message in reversed(self.driver.inboxes[self.chat].messages):
            if message.buttons:
                return message  # type: ignore[no-any-return]
        raise LookupError(f"{self.chat} was offered no buttons")


class WhatsAppPerson(Person):
    channel = "whatsapp"
    VALUES: ClassVar[dict[str, str]] = {
        "WHATSAPP_BUSINESS_ACCOUNT_ID": "102290129340398",
        "BUSINESS_DISPLAY_PHONE_NUMBER": "6281100001111",
    }

    def __init__(self, driver: Driver, n: int, steps: list[tuple[str, str]]) -> None:
        super().__init__(driver, n, steps)
        self.wa_id = f"62812{n:08d}"
        self.chat = f"w{self.wa_id}"

    def update(self, action: str, value: str) -> tuple[tuple[str, bytes, dict[str, str]], str]:
        message_id = new_message_id()
        values = {
            **self.VALUES,
            "BUSINESS_PHONE_NUMBER_ID": self.driver.whatsapp.phone_number_id,
            "WHATSAPP_USER_ID": self.wa_id,
            "WHATSAPP_USER_PHONE_NUMBER": self.wa_id,
            "WHATSAPP_BSUID": "",
            "WHATSAPP_USERNAME": "@pengguna",
            "WHATSAPP_USER_NAME": f"ASN {self.n}",
            "WHATSAPP_MESSAGE_ID": message_id,
            "WEBHOOK_SENT_TIMESTAMP": str(int(time.time())),
            "CONTEXT_MESSAGE_ID": "wamid.NONE",
        }
        if action == "say":
            payload = load_payload("text", MESSAGE_BODY_TEXT=value, **values)
        else:
            offer = self._last_interactive()
            for choice_id, title, description in offered_choices(offer):  # noqa: B007
                if choice_id == value or (
                    action == "pick" and any(v in title for v in value.split("|"))
                ):
                    break
            else:
                raise LookupError(f"{self.chat}: no choice {value!r} in {visible_text(offer)}")
            if offer["interactive"]["type"] == "button":
                payload = load_payload(
                    "interactive_button_reply", BUTTON_ID=choice_id, BUTTON_TITLE=title, **values
                )
            else:
                payload = load_payload(
                    "interactive_list_reply", ROW_ID=choice_id, ROW_TITLE=title,
                    ROW_DESCRIPTION=description or "", **values,
                )  # fmt: skip
        body, headers = signed(WA_SECRET, payload)
        return ("/webhooks/whatsapp", body, headers), message_id

    def _asks_about_duplicates(self, inbox: Inbox) -> bool:
        last = inbox.messages[-1]
        return last.get("type") == "interactive" and any(
            choice_id == DUPLICATE_ANSWER[1] for choice_id, _t, _d in offered_choices(last)
        )

    def _last_interactive(self) -> dict[str, Any]:
        for message in reversed(self.driver.inboxes[self.chat].messages):
            if message.get("type") == "interactive":
                return message  # type: ignore[no-any-return]
        raise LookupError(f"{self.chat} was offered no choice")


# -- one run ---------------------------------------------------------------------------------------


async def admin(url: str, sql: str) -> None:
    engine = create_async_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    async with engine.connect() as conn:
        await conn.execute(text(sql))
    await engine.dispose()


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"bot {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")


@dataclass
class Result:
    replicas: int
    updates: int
    seconds: float
    p50: float
    p95: float
    counts: dict[str, int] | None = None
    reply_delays: tuple[float, float] = (0.0, 0.0)  # p50, p95 ms from commit to sent-mark


async def one_run(
    base_url: str, replicas: int, asn: int, workdir: Path, kill: str | None, seed: int
) -> Result:
    name = f"bench_replicas_{replicas}_{uuid.uuid4().hex[:6]}"
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    await admin(base_url, f'CREATE DATABASE "{name}"')
    telegram = FakeTelegramApi()
    whatsapp = FakeGraphApi()
    await telegram.start()
    await whatsapp.start()
    run_dir = workdir / name
    run_dir.mkdir()
    own = ("SASI_", "TELEGRAM_", "WHATSAPP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(
        SASI_DATABASE_URL=url,
        SASI_DATA_DIR=str(run_dir / "data"),
        SASI_HTTP_HOST="127.0.0.1",
        SASI_QUIET_HOURS="00:00-00:00",
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_BASE_URL=telegram.base_url,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        TELEGRAM_MESSAGES_PER_SECOND="10000",
        WHATSAPP_TOKEN=whatsapp.token,
        WHATSAPP_PHONE_NUMBER_ID=whatsapp.phone_number_id,
        WHATSAPP_APP_SECRET=WA_SECRET,
        WHATSAPP_VERIFY_TOKEN=WA_VERIFY,
        WHATSAPP_API_BASE_URL=whatsapp.base_url,
        WHATSAPP_MESSAGES_PER_SECOND="10000",
        PYTHONPATH=str(ROOT),
    )  # fmt: skip
    # Migrations once, before any replica starts (compose's one-shot "migrate" service).
    run_cli(env, run_dir, "migrate")
    run_cli(env, run_dir, "import-opd", str(ROOT / "bot" / "demo_data" / "opds.csv"))
    fleet = [Replica(i + 1, env, run_dir) for i in range(replicas)]
    driver = Driver(fleet, telegram, whatsapp)
    try:
        for replica in fleet:
            replica.start()
        for replica in fleet:
            await replica.wait_ready(driver.http)
        rng = random.Random(seed)
        people: list[Person] = [
            (WhatsAppPerson if n % 5 == 4 else TelegramPerson)(driver, n, script(n, rng))
            for n in range(asn)
        ]
        total = sum(len(p.steps) for p in people)
        started = time.monotonic()
        tasks = [asyncio.create_task(p.run()) for p in people]
        killer = None
        if kill is not None:
            killer = asyncio.create_task(kill_and_restart(driver, fleet, total, kill))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        if killer is not None:
            await killer
        if driver.duplicate_questions:
            print(
                f"  {driver.duplicate_questions} people were asked about a near-duplicate "
                "idea saved meanwhile (they answered: continue with mine)"
            )
        if driver.sent_again:
            print(
                f"  {driver.sent_again} messages answered with a system error "
                "('send it again') and sent again"
            )
        errors = [p.error for p in people if p.error]
        if errors:
            print(f"  {len(errors)} conversations broke off, e.g. {errors[:3]}")
            traces = [getattr(p, "trace", "") for p in people if p.error]
            (run_dir / "broken-off.txt").write_text("\n".join(traces))
            print(f"  what they saw last: {run_dir / 'broken-off.txt'}")
        lat = sorted(driver.latencies)
        result = Result(
            replicas, len(lat), elapsed, statistics.median(lat) * 1000,
            lat[int(0.95 * (len(lat) - 1))] * 1000,
        )  # fmt: skip
        result.reply_delays = await reply_delays(url)
        if kill is not None:
            await asyncio.sleep(2.0)  # late duplicates, if any, would arrive now
            result.counts = await failure_counts(url, driver, people)
        codes = [replica.stop() for replica in fleet]
        if any(codes):
            print(f"  replicas' exit codes at SIGTERM: {codes}")
        return result
    finally:
        for replica in fleet:
            if replica.process is not None and replica.process.poll() is None:
                replica.process.kill()
                replica.process.wait()
        await driver.close()
        await telegram.stop()
        await whatsapp.close()
        await admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def kill_and_restart(driver: Driver, fleet: list[Replica], total: int, which: str) -> None:
    """SIGKILL one replica half-way through the updates, and start it again."""
    while len(driver.latencies) < total // 2:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    states = [await r.ready(driver.control) for r in fleet]
    senders = [r for r, s in zip(fleet, states, strict=True) if s and s.get("sending")]
    others = [r for r in fleet if r not in senders]
    victim = (senders if which == "sender" else others or senders)[0]
    role = "the sender" if victim in senders else "not the sender"
    print(
        f"  SIGKILL replica {victim.index} ({role}) after {len(driver.latencies)} of {total} "
        "updates",
        flush=True,
    )
    victim.kill()
    await asyncio.sleep(1.0)
    victim.start()
    await victim.wait_ready(driver.control)
    print(f"  replica {victim.index} ready again after {len(driver.latencies)} updates")


async def reply_delays(url: str) -> tuple[float, float]:
    """From a reply's commit to its sent-mark: where the time goes (ms, p50 and p95)."""
    from storage.outbox import OutboxMessage

    engine = create_async_engine(url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(OutboxMessage.created_at, OutboxMessage.sent_at).where(
                OutboxMessage.kind == "reply", OutboxMessage.sent_at.is_not(None)
            )
        )
        delays = sorted((sent - created).total_seconds() * 1000 for created, sent in rows)
    await engine.dispose()
    if not delays:
        return (0.0, 0.0)
    return statistics.median(delays), delays[int(0.95 * (len(delays) - 1))]


async def failure_counts(url: str, driver: Driver, people: list[Person]) -> dict[str, int]:
    from storage.models import ConversationState, Idea, Identity, InboundUpdate

    engine = create_async_engine(url)
    async with engine.connect() as conn:
        processed = {
            (row.channel, row.update_key)
            for row in await conn.execute(
                select(InboundUpdate.channel, InboundUpdate.update_key).where(
                    InboundUpdate.processed_at.is_not(None)
                )
            )
        }
        versions = {
            (row.channel, row.external_id): row.version
            for row in await conn.execute(
                select(Identity.channel, Identity.external_id, ConversationState.version).join(
                    ConversationState, ConversationState.user_id == Identity.user_id
                )
            )
        }
        with_idea = {
            (row.channel, row.external_id)
            for row in await conn.execute(
                select(Identity.channel, Identity.external_id)
                .join(Idea, Idea.owner_id == Identity.user_id)
                .group_by(Identity.channel, Identity.external_id)
                .having(func.count() >= 1)
            )
        }
    await engine.dispose()
    lost = len(driver.accepted - processed)
    twice = 0
    unfinished = 0
    for person in people:
        external = person.chat[1:]
        version = versions.get((person.channel, external), 0)
        twice += max(0, version - len(person.steps))  # the steps it sent, duplicates' answer too
        if not person.finished or (person.channel, external) not in with_idea:
            unfinished += 1
    duplicates = 0
    for inbox in driver.inboxes.values():
        seen: set[tuple[str, int]] = set()
        for message, sent in zip(inbox.messages, inbox.sent_by_person, strict=True):
            content = (
                f"{message.text}|{message.buttons}"
                if isinstance(message, SentMessage)
                else repr(sorted(message.items(), key=lambda kv: kv[0]))
            )
            if (content, sent) in seen:
                duplicates += 1
            seen.add((content, sent))
    return {
        "updates lost": lost,
        "processed twice": twice,
        "messages sent twice": duplicates,
        "conversations not finished": unfinished,
        "redelivered by the driver": driver.redelivered,
        "asked about a near-duplicate (answered: continue)": driver.duplicate_questions,
        "answered with a system error and sent again": driver.sent_again,
        "POSTs refused or failed (retried on another replica)": driver.refused,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asn", type=int, default=1000)
    parser.add_argument("--replicas", default="1,2,4", help="replica counts, e.g. 1,2,4")
    parser.add_argument("--kill", choices=("other", "sender", "none"), default="other")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("SASI_TEST_DATABASE_URL")
        or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    counts = [int(c) for c in args.replicas.split(",")]
    print(
        f"{args.asn} ASN ({args.asn - args.asn // 5} on Telegram, {args.asn // 5} on WhatsApp), "
        f"21 messages each, on {os.cpu_count()} CPU cores; PostgreSQL "
        f"{make_url(args.postgres).render_as_string(hide_password=True)}"
    )
    results: list[Result] = []
    workdir = tempfile.mkdtemp(prefix="bench-replicas-")
    print(f"replicas' logs in {workdir}")
    if True:
        for count in counts:
            kill = None if args.kill == "none" or count != 2 else args.kill
            print(f"{count} replica(s){' (one SIGKILLed and restarted)' if kill else ''}:")
            result = await one_run(args.postgres, count, args.asn, Path(workdir), kill, args.seed)
            results.append(result)
            print(
                f"  {result.updates} updates in {result.seconds:.1f} s: "
                f"{result.updates / result.seconds:.1f} updates/s, "
                f"p50 {result.p50:.0f} ms, p95 {result.p95:.0f} ms; a reply's commit to its "
                f"sent-mark p50 {result.reply_delays[0]:.0f} ms, "
                f"p95 {result.reply_delays[1]:.0f} ms"
            )
            if result.counts is not None:
                for label, value in result.counts.items():
                    print(f"  {label}: {value}")
    print("replicas  updates/s  p50 ms  p95 ms")
    for r in results:
        print(f"{r.replicas:>8}  {r.updates / r.seconds:>9.1f}  {r.p50:>6.0f}  {r.p95:>6.0f}")


if __name__ == "__main__":
    asyncio.run(main())
