"""Accuracy floor on the labelled development set (tests/data/similarity_devset.tsv).

The floors are the levels reached when the engine was tuned; a change that lowers any
of them fails here. Figures are on what a submitter sees: at most 3 ideas per query.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.similarity import SimilarityIndex, baselines
from bot.similarity.corpus import load_table
from bot.similarity.evaluate import Metrics, best_threshold, evaluate

DEVSET = Path(__file__).parent / "data" / "similarity_devset.tsv"
FLOOR = Metrics(precision=0.89, recall=0.95, quiet=0.92, shown=0, with_partner=0, without_partner=0)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return load_table(DEVSET)


@pytest.fixture(scope="module")
def groups(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["id"]: r["group"] for r in rows}


@pytest.fixture(scope="module")
def sasi(rows: list[dict[str, str]], groups: dict[str, str]) -> Metrics:
    index = SimilarityIndex()
    index.rebuild((r["id"], r["name"], r["description"]) for r in rows)
    shown = {
        r["id"]: [m.doc_id for m in index.search_sync(r["name"], r["description"], 3, [r["id"]])]
        for r in rows
    }
    return evaluate(shown, groups)


def test_devset_is_what_the_issue_asks_for(rows: list[dict[str, str]]) -> None:
    kinds = Counter(r["kind"] for r in rows)
    assert len(rows) >= 150
    assert kinds["same"] >= 60 and kinds["unique"] >= 20
    assert kinds["blurb"] >= 10 and kinds["trap"] >= 10
    sizes = Counter(r["group"] for r in rows)
    assert all(sizes[r["group"]] >= 2 for r in rows if r["kind"] == "same")
    assert all(sizes[r["group"]] == 1 for r in rows if r["kind"] != "same")


def test_sasi_keeps_its_accuracy(sasi: Metrics) -> None:
    assert sasi.meets(FLOOR), sasi
    # The issue's targets, with the floor above them.
    assert sasi.precision >= 0.8 and sasi.recall >= 0.9 and sasi.quiet >= 0.7


def test_sasi_ahead_of_baselines_at_their_best(
    rows: list[dict[str, str]], groups: dict[str, str], sasi: Metrics
) -> None:
    for scored in (baselines.tfidf_cosine(rows), baselines.rapidfuzz_token_set(rows)):
        _, best = best_threshold(scored, groups, limit=3)
        assert sasi.balanced >= best.balanced + 0.2, (sasi, best)


def test_metrics_definitions() -> None:
    groups = {"a": "g", "b": "g", "c": "x", "d": "y"}
    m = evaluate({"a": ["b", "c"], "b": [], "c": ["d"], "d": []}, groups)
    assert m.precision == pytest.approx(1 / 3)  # b right; c and d wrong
    assert m.recall == pytest.approx(1 / 2)  # a found its partner, b did not
    assert m.quiet == pytest.approx(1 / 2)  # d silent, c not
