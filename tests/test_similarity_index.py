"""The inverted index: same answers as scoring every idea, live updates, async search."""

from __future__ import annotations

import asyncio
import random
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.similarity import SimilarityIndex
from bot.similarity.corpus import load_table
from handlers.ports import SimilarMatch

DEVSET = Path(__file__).parent / "data" / "similarity_devset.tsv"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return load_table(DEVSET)


@pytest.fixture
def index(rows: list[dict[str, str]]) -> SimilarityIndex:
    idx = SimilarityIndex()
    idx.rebuild((f"dir:{r['id']}", r["name"], r["description"]) for r in rows)
    return idx


def _same(a: Sequence[SimilarMatch], b: Sequence[SimilarMatch]) -> None:
    """Indexed and exhaustive results agree (scores to float32 rounding)."""
    assert [m.doc_id for m in a] == [m.doc_id for m in b]
    for x, y in zip(a, b, strict=True):
        assert x.score == pytest.approx(y.score, abs=0.02)


def _queries(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    rng = random.Random(7)
    qs = [(r["name"], r["description"]) for r in rows[::2]]
    # Mixed queries: halves of two entries glued together, and word salads.
    for _ in range(30):
        a, b = rng.sample(rows, 2)
        words = (a["description"] + " " + b["description"]).split()
        rng.shuffle(words)
        qs.append((a["name"], " ".join(words[: len(words) // 2])))
    return qs


@pytest.mark.parametrize("threshold", [10.0, 28.0, 45.0])
def test_indexed_search_equals_exhaustive(
    rows: list[dict[str, str]], index: SimilarityIndex, threshold: float
) -> None:
    index.threshold = threshold
    shown = 0
    for name, desc in _queries(rows):
        fast = index.search_sync(name, desc, limit=5)
        _same(fast, index.search_exhaustive(name, desc, limit=5))
        shown += len(fast)
    assert shown > 0  # the comparison is not vacuous


def test_equivalence_holds_after_edits(rows: list[dict[str, str]], index: SimilarityIndex) -> None:
    rng = random.Random(3)
    for i in range(60):
        a = rng.choice(rows)
        index.upsert(f"idea:{i}", a["name"] + " baru", a["description"])
    for r in rows[:30]:
        index.remove(f"dir:{r['id']}")
    index.upsert("dir:40", "Judul diganti", "Deskripsi diganti tentang bank sampah sekolah")
    for name, desc in _queries(rows)[::4]:
        _same(index.search_sync(name, desc, limit=5), index.search_exhaustive(name, desc, limit=5))


def test_results_best_first_limited_and_above_threshold(
    rows: list[dict[str, str]], index: SimilarityIndex
) -> None:
    jebol = next(r for r in rows if r["name"].startswith("JEBOL"))
    got = index.search_sync(jebol["name"], jebol["description"], limit=3)
    assert 1 <= len(got) <= 3
    assert [m.score for m in got] == sorted((m.score for m in got), reverse=True)
    assert all(index.threshold <= m.score <= 100 for m in got)
    assert got[0].doc_id == f"dir:{jebol['id']}"  # itself, unless excluded
    again = index.search_sync(
        jebol["name"], jebol["description"], limit=3, exclude=[f"dir:{jebol['id']}"]
    )
    assert f"dir:{jebol['id']}" not in [m.doc_id for m in again]
    assert index.search_sync(jebol["name"], jebol["description"], limit=1)[0] == got[0]


def test_quiet_on_blurbs_and_unrelated_text(index: SimilarityIndex) -> None:
    blurb = ("Inovasi Dinas Kesehatan Kota Batu 2022", "Inovasi Dinas Kesehatan")
    assert index.search_sync(*blurb) == []
    assert index.search_sync("Festival layang-layang", "Lomba layang-layang antar kampung") == []
    assert index.search_sync("", "") == []


def test_one_shared_word_is_not_a_match_two_are() -> None:
    """A single rare word in common (the thin entries of real directories) never warns,
    on either search path; the same pair sharing two words does."""
    import dataclasses

    rows = [
        ("dir:1", "Kebun Sekolah", "Siswa menanam sayur di kebun sekolah"),
        ("dir:2", "Bank Sampah", "Warga menabung sampah yang dipilah di bank sampah"),
        ("dir:3", "Posyandu Lansia", "Pemeriksaan kesehatan lanjut usia di posyandu"),
        ("dir:4", "Festival Layang", "Lomba layang-layang antar kampung"),
        ("dir:5", "Reklame", "Izin reklame"),
    ]
    one = ("Izin Usaha", "izin")
    two = ("Izin Reklame", "izin reklame")
    for need, expect_one in ((2, []), (1, ["dir:5"])):
        idx = SimilarityIndex(
            threshold=5.0, params=dataclasses.replace(SimilarityIndex().params, min_shared=need)
        )
        idx.rebuild(rows)
        for search in (idx.search_sync, idx.search_exhaustive):
            assert [m.doc_id for m in search(*one)] == expect_one
            assert [m.doc_id for m in search(*two)] == ["dir:5"]


def test_upsert_edit_and_remove_take_effect_at_once() -> None:
    idx = SimilarityIndex()
    idx.rebuild(
        [
            ("dir:1", "Perpustakaan Keliling", "Mobil perpustakaan keliling ke sekolah dan desa"),
            ("dir:2", "Bank Sampah", "Warga menabung sampah yang dipilah di bank sampah"),
            ("dir:3", "Posyandu Lansia", "Pemeriksaan kesehatan lanjut usia di posyandu"),
        ]
    )
    assert len(idx) == 3
    query = ("Si Gesit", "Petugas dukcapil mendatangi rumah lansia untuk perekaman KTP-el")
    assert "idea:9" not in [m.doc_id for m in idx.search_sync(*query)]
    idx.upsert("idea:9", "Jemput Bola KTP", "Perekaman KTP elektronik di rumah warga lanjut usia")
    assert len(idx) == 4
    assert idx.search_sync(*query)[0].doc_id == "idea:9"
    # Edited into another idea: no longer shown for the old one.
    idx.upsert("idea:9", "Kebun Sekolah", "Siswa menanam sayur di kebun sekolah")
    assert len(idx) == 4
    assert "idea:9" not in [m.doc_id for m in idx.search_sync(*query)]
    # Merged away.
    idx.upsert("idea:9", "Jemput Bola KTP", "Perekaman KTP elektronik di rumah warga lanjut usia")
    idx.remove("idea:9")
    idx.remove("idea:unknown")
    assert len(idx) == 3
    assert idx.search_sync(*query) == []


def test_rebuild_replaces_everything(index: SimilarityIndex) -> None:
    index.rebuild([("idea:1", "Bank Sampah Sekolah", "Siswa menabung sampah plastik")])
    assert len(index) == 1
    assert "dir:1" not in index
    got = index.search_sync("Tabungan Sampah", "Siswa menabung sampah plastik di sekolah")
    assert [m.doc_id for m in got] == ["idea:1"]


async def test_async_search_runs_off_the_event_loop(index: SimilarityIndex) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = index.search_sync

    def spy(*args: object, **kwargs: object) -> list[SimilarMatch]:
        seen.append(threading.get_ident())
        return original(*args, **kwargs)  # type: ignore[arg-type]

    index.search_sync = spy  # type: ignore[method-assign]
    got = await index.search("Door to Door KTP", "Perekaman KTP-el di rumah lansia dan difabel")
    assert got and seen and seen[0] != loop_thread


async def test_concurrent_searches_and_upserts_are_safe(rows: list[dict[str, str]]) -> None:
    idx = SimilarityIndex()
    idx.rebuild((f"dir:{r['id']}", r["name"], r["description"]) for r in rows[:80])

    async def writer() -> None:
        for r in rows[80:]:
            idx.upsert(f"dir:{r['id']}", r["name"], r["description"])
            await asyncio.sleep(0)

    searches = [idx.search(r["name"], r["description"]) for r in rows[::5]]
    await asyncio.gather(writer(), *searches)
    assert len(idx) == len(rows)
    r = rows[-1]
    assert idx.search_sync(r["name"], r["description"])[0].doc_id == f"dir:{r['id']}"


def test_bulk_weights_equal_per_document_weights(
    rows: list[dict[str, str]], index: SimilarityIndex
) -> None:
    # rebuild() computes every posting weight in numpy batches; upserts and the
    # exhaustive search compute them one document at a time. They must agree.
    per_doc = {slot: index._doc_vector(rec) for slot, rec in enumerate(index._records) if rec}
    seen = 0
    for tid, (docs, weights) in enumerate(zip(index._post_docs, index._post_w, strict=True)):
        for slot, w in zip(docs, weights, strict=True):
            assert w == pytest.approx(per_doc[slot][tid], rel=1e-5, abs=1e-7)
            seen += 1
    assert seen == sum(len(v) for v in per_doc.values()) > 0


class _CountingStemmer:
    """PySastrawi as this process uses it, recording each word it is asked to stem.
    With ``wait_for``, stemming starts only once the event is set (or after 5 s)."""

    def __init__(self, stemmer: Any, wait_for: threading.Event | None = None) -> None:
        self.stemmer = stemmer
        self.wait_for = wait_for
        self.tokens: list[str] = []

    def stem(self, token: str) -> Any:
        if self.wait_for is not None:
            self.wait_for.wait(5)
        self.tokens.append(token)
        return self.stemmer.stem(token)


def _signalling(send: Callable[[Any, Any], None], event: threading.Event) -> Any:
    """``parallel._send`` that sets ``event`` once something went to the helper."""

    def wrapped(stream: Any, obj: Any) -> None:
        send(stream, obj)
        event.set()

    return wrapped


def _serial_build(docs: list[tuple[str, str, str]]) -> tuple[SimilarityIndex, list[str]]:
    """A single-process build, and the words it stemmed."""
    from bot.similarity import parallel

    serial = SimilarityIndex()
    counting = _CountingStemmer(serial.normalizer._stemmer)
    serial.normalizer._stemmer = counting
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(parallel, "PARALLEL_MIN_TOKENS", 10**9)
        serial.rebuild(docs)
    return serial, counting.tokens


def _assert_same_index(a: SimilarityIndex, b: SimilarityIndex) -> None:
    assert a._slot_ids == b._slot_ids
    assert [r.tolist() for r in a._records if r] == [r.tolist() for r in b._records if r]
    assert a._terms == b._terms
    assert [d.tolist() for d in a._post_docs] == [d.tolist() for d in b._post_docs]
    assert [w.tolist() for w in a._post_w] == [w.tolist() for w in b._post_w]
    # The persisted cache must hold every stem, whoever computed it.
    assert a.normalizer.stem_cache_snapshot() == b.normalizer.stem_cache_snapshot()


@pytest.fixture
def force_helper(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the development set take the helper path; returns the sizes of the chunks
    handed to the helper (filled during the rebuild)."""
    from bot.similarity import parallel

    monkeypatch.setattr(parallel, "PARALLEL_MIN_TOKENS", 1)
    monkeypatch.setattr(parallel, "_BATCH_ROWS", 10)
    monkeypatch.setattr(parallel, "_CHUNK", 16)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    sent: list[int] = []
    original = parallel._send

    def counting(stream: Any, obj: Any) -> None:
        original(stream, obj)
        sent.append(len(obj))

    monkeypatch.setattr(parallel, "_send", counting)
    return sent


def test_rebuild_with_helper_process_stems_each_word_once(
    rows: list[dict[str, str]], force_helper: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large cold rebuilds share the words to stem with a helper process; force that path
    # on the development set: every word is stemmed by exactly one of the two processes,
    # and the index and stem cache are those of a single-process build.
    from bot.similarity import parallel

    docs = [(f"dir:{r['id']}", r["name"], r["description"]) for r in rows]
    serial, serial_tokens = _serial_build(docs)
    answered: dict[str, str] = {}
    drain = parallel._Helper.drain

    def recording(self: parallel._Helper) -> dict[str, str]:
        stems = drain(self)
        answered.update(stems)
        return stems

    monkeypatch.setattr(parallel._Helper, "drain", recording)
    helped = SimilarityIndex()
    handed_out = threading.Event()
    # This process starts stemming only once the helper has been given work, so the
    # helper's share cannot be empty by a race (it always answers what it holds).
    monkeypatch.setattr(parallel, "_send", _signalling(parallel._send, handed_out))
    mine = _CountingStemmer(helped.normalizer._stemmer, wait_for=handed_out)
    helped.normalizer._stemmer = mine
    helped.rebuild(docs)
    assert force_helper and answered  # the helper really stemmed words
    assert not set(mine.tokens) & set(answered)
    assert sorted(mine.tokens + list(answered)) == sorted(serial_tokens)
    _assert_same_index(helped, serial)


BROKEN_HELPERS = {
    "cannot start": ["/nonexistent/python"],
    "exits at once": [sys.executable, "-c", "pass"],
    "answers garbage": [
        sys.executable,
        "-c",
        "import sys; sys.stdin.buffer.read(8); "
        "sys.stdout.buffer.write((5).to_bytes(8, 'little') + b'junk!'); "
        "sys.stdout.buffer.flush(); sys.stdin.buffer.read()",
    ],
    "never answers": [sys.executable, "-c", "import time; time.sleep(60)"],
}


@pytest.mark.parametrize("broken", list(BROKEN_HELPERS))
def test_rebuild_completes_alone_when_the_helper_fails(
    rows: list[dict[str, str]],
    force_helper: list[int],
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
) -> None:
    from bot.similarity import parallel

    docs = [(f"dir:{r['id']}", r["name"], r["description"]) for r in rows]
    serial, _ = _serial_build(docs)
    monkeypatch.setattr(parallel, "_HELPER_COMMAND", BROKEN_HELPERS[broken])
    monkeypatch.setattr(parallel, "_STALL_SECONDS", 0.5)
    handed_out = threading.Event()
    monkeypatch.setattr(parallel, "_send", _signalling(parallel._send, handed_out))
    helped = SimilarityIndex()
    if broken != "cannot start":
        # Hold this process back until words went to the helper, which loses them.
        helped.normalizer._stemmer = _CountingStemmer(
            helped.normalizer._stemmer, wait_for=handed_out
        )
    helped.rebuild(docs)
    assert bool(force_helper) == (broken != "cannot start")
    _assert_same_index(helped, serial)
