"""The semantic layer (learned concepts) and the collected real entries' data files."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

from bot.similarity import SimilarityIndex
from bot.similarity.index import ScoringParams
from bot.similarity.judged import load_judged, split_of
from bot.similarity.normalize import SYNONYMS_FILE
from bot.similarity.semantic import CONCEPTS_FILE, SemanticConcepts

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "data" / "real"
SHARED = ROOT.parent / "shared" / "data"


def _concept_pair() -> tuple[str, str]:
    """Two terms the shipped file puts in one concept."""
    seen: dict[str, str] = {}
    for line in CONCEPTS_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        term, concept = line.split("\t")
        if term.isalpha() and len(term) > 4:
            if concept in seen:
                return seen[concept], term
            seen[concept] = term
    raise AssertionError("no concept with two terms")


def test_shipped_concepts_load() -> None:
    concepts = SemanticConcepts()
    assert len(concepts) > 300
    a, b = _concept_pair()
    assert concepts.concept(a) == concepts.concept(b) is not None
    assert SemanticConcepts.is_concept(concepts.tokens([a])[0])
    assert len(SemanticConcepts(weight=0)) == 0


def test_concepts_link_different_words_and_weight_zero_turns_them_off() -> None:
    a, b = _concept_pair()
    docs = [
        ("1", "Satu", f"{a} kuda merah"),
        ("2", "Dua", "sapi hijau biru"),
        ("3", "Tiga", "kambing"),
    ]

    def score(weight: float) -> float:
        # min_shared=1: this isolates the concept layer (the texts share no word at all).
        index = SimilarityIndex(
            threshold=0.0,
            semantic=SemanticConcepts(weight=weight),
            params=ScoringParams(min_shared=1),
        )
        index.rebuild(docs)
        hits = index.search_sync("Empat", f"{b} ikan", 3)
        return next((m.score for m in hits if m.doc_id == "1"), 0.0)

    assert score(0.0) == 0.0
    assert score(0.2) > 0.0


def test_indexed_search_equals_exhaustive_and_upsert_equals_rebuild_with_concepts() -> None:
    coll = load_judged(
        REAL / "real_innovations_collected.tsv", REAL / "real_innovations_collected_groups.tsv"
    )
    docs = [(r["id"], r["name"], r["description"]) for r in coll.rows[:80]]
    built = SimilarityIndex()
    built.rebuild(docs)
    grown = SimilarityIndex()
    for d in docs:
        grown.upsert(*d)
    grown._reweight()  # same IDF snapshot as the rebuild
    for _, name, desc in docs[::7]:
        fast = built.search_sync(name, desc, 3)
        assert fast == built.search_exhaustive(name, desc, 3)
        assert [m.doc_id for m in fast] == [m.doc_id for m in grown.search_sync(name, desc, 3)]


def _names(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        return [r["name"] for r in reader]


# Entries named after the generic service they run (a lexicon word by right).
GENERIC_NAMES = frozenset(
    {"e-surat", "online single submission", "samsat online", "tapping box", "tnde"}
)


def test_lexicon_lists_no_entry_names() -> None:
    """The engine must not know the evaluation sets: no entry name is a lexicon form,
    except names that are just the generic service (``GENERIC_NAMES``)."""
    forms = {
        f.strip().lower()
        for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
        for f in line.split("\t")
        if f.strip()
    }
    names = _names(REAL / "real_innovations_collected.tsv")
    if (SHARED / "real_innovations_dev.tsv").is_file():
        names += _names(SHARED / "real_innovations_dev.tsv")
    clash = [
        n for n in names if re.sub(r"\s*\(.*\)$", "", n).strip().lower() in forms - GENERIC_NAMES
    ]
    assert not clash, clash


def test_collected_set_is_built_from_its_sources_and_split() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "build_real_collected.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    coll = load_judged(
        REAL / "real_innovations_collected.tsv", REAL / "real_innovations_collected_groups.tsv"
    )
    assert len(coll.rows) >= 190 and all(r["source_url"].startswith("http") for r in coll.rows)
    parts = [split_of(r) for r in coll.rows]
    assert parts.count("held-out") >= 60 and parts.count("tune") >= 120
