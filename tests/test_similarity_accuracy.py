"""Accuracy floors on the labelled sets: the project's own devset
(tests/data/similarity_devset.tsv), the real development set in ../shared/data/ and the
real entries collected for issue 13 (tests/data/real/).

The floors are the levels reached when the engine was last tuned (issue 13); a change
that lowers any of them fails here. Figures are on what a submitter sees: at most 3
ideas per query. The real development set lives beside the repository (CI copies
``shared/`` next to its clone); when it is missing the tests fail, loudly, rather than
skip, because a skipped floor is one nobody keeps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from bot.similarity import SimilarityIndex, baselines
from bot.similarity.corpus import load_table
from bot.similarity.evaluate import Metrics, best_threshold, best_threshold_by, evaluate
from bot.similarity.judged import JudgedSet, evaluate_judged, load_judged, split_of

DATA = Path(__file__).parent / "data"
DEVSET = DATA / "similarity_devset.tsv"
SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
REAL_DEV = SHARED / "real_innovations_dev.tsv"
REAL_DEV_GROUPS = SHARED / "real_innovations_dev_groups.tsv"
COLLECTED = DATA / "real" / "real_innovations_collected.tsv"
COLLECTED_GROUPS = DATA / "real" / "real_innovations_collected_groups.tsv"


def _floor(precision: float, recall: float, quiet: float) -> Metrics:
    return Metrics(precision, recall, quiet, shown=0, with_partner=0, without_partner=0)


DEVSET_FLOOR = _floor(precision=0.83, recall=0.99, quiet=0.80)
REAL_DEV_FLOOR = _floor(precision=0.83, recall=0.77, quiet=0.84)
# Collected entries (517): the tune part (334; 249 queries with a partner, 41 without) was
# tuned on, the held-out part (183; 104 with a partner, 33 without) never. These are the
# levels measured in the fourth pass (tune 0.858 / 0.884 / 0.756, held-out 0.757 / 0.779 /
# 0.606), not the issue's targets: on the held-out part all three are under them.
TUNE_FLOOR = _floor(precision=0.85, recall=0.87, quiet=0.75)
HELD_OUT_FLOOR = _floor(precision=0.75, recall=0.77, quiet=0.60)


def _shown(rows: Sequence[dict[str, str]]) -> dict[str, list[str]]:
    index = SimilarityIndex()
    index.rebuild((r["id"], r["name"], r["description"]) for r in rows)
    return {
        r["id"]: [m.doc_id for m in index.search_sync(r["name"], r["description"], 3, [r["id"]])]
        for r in rows
    }


def _best_baseline(
    rows: Sequence[dict[str, str]], judge: Callable[[Mapping[str, Sequence[str]]], Metrics]
) -> Metrics:
    best = [
        best_threshold_by(fn(rows), judge, limit=3)[1]
        for fn in (baselines.tfidf_cosine, baselines.rapidfuzz_token_set)
    ]
    return max(best, key=lambda m: m.balanced)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return load_table(DEVSET)


@pytest.fixture(scope="module")
def groups(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["id"]: r["group"] for r in rows}


@pytest.fixture(scope="module")
def sasi(rows: list[dict[str, str]], groups: dict[str, str]) -> Metrics:
    return evaluate(_shown(rows), groups)


@pytest.fixture(scope="module")
def real_dev() -> JudgedSet:
    if not REAL_DEV.is_file() or not REAL_DEV_GROUPS.is_file():
        pytest.fail(
            f"the real development set is missing: expected {REAL_DEV} and {REAL_DEV_GROUPS} "
            "(the shared/ folder beside the repository; CI copies it there)"
        )
    return load_judged(REAL_DEV, REAL_DEV_GROUPS)


def test_devset_is_what_the_issue_asks_for(rows: list[dict[str, str]]) -> None:
    kinds = Counter(r["kind"] for r in rows)
    assert len(rows) >= 150
    assert kinds["same"] >= 60 and kinds["unique"] >= 20
    assert kinds["blurb"] >= 10 and kinds["trap"] >= 10
    sizes = Counter(r["group"] for r in rows)
    assert all(sizes[r["group"]] >= 2 for r in rows if r["kind"] == "same")
    assert all(sizes[r["group"]] == 1 for r in rows if r["kind"] != "same")


def test_sasi_keeps_its_accuracy(sasi: Metrics) -> None:
    assert sasi.meets(DEVSET_FLOOR), sasi
    assert sasi.precision >= 0.8 and sasi.recall >= 0.9 and sasi.quiet >= 0.7


def test_sasi_ahead_of_baselines_at_their_best(
    rows: list[dict[str, str]], groups: dict[str, str], sasi: Metrics
) -> None:
    for scored in (baselines.tfidf_cosine(rows), baselines.rapidfuzz_token_set(rows)):
        _, best = best_threshold(scored, groups, limit=3)
        assert sasi.balanced >= best.balanced + 0.2, (sasi, best)


def test_real_dev_set_keeps_its_accuracy_and_beats_the_baselines(real_dev: JudgedSet) -> None:
    assert len(real_dev.rows) >= 150 and len(real_dev.positive) >= 100
    m = evaluate_judged(_shown(real_dev.rows), real_dev)
    assert m.meets(REAL_DEV_FLOOR), m
    best = _best_baseline(real_dev.rows, lambda s: evaluate_judged(s, real_dev))
    assert m.balanced > best.balanced, (m, best)


def test_collected_tune_part_keeps_its_accuracy_and_beats_the_baselines() -> None:
    collected = load_judged(COLLECTED, COLLECTED_GROUPS)
    tune = collected.subset(r["id"] for r in collected.rows if split_of(r) == "tune")
    m = evaluate_judged(_shown(tune.rows), tune)
    assert m.meets(TUNE_FLOOR), m
    best = _best_baseline(tune.rows, lambda s: evaluate_judged(s, tune))
    assert m.balanced > best.balanced, (m, best)


def test_collected_held_out_part_keeps_its_accuracy() -> None:
    collected = load_judged(COLLECTED, COLLECTED_GROUPS)
    held = collected.subset(r["id"] for r in collected.rows if split_of(r) == "held-out")
    assert held.rows and held.positive, "the held-out part needs judged pairs"
    m = evaluate_judged(_shown(held.rows), held)
    assert m.meets(HELD_OUT_FLOOR), m
    # Ahead of rapidfuzz; a TF-IDF cosine at its hindsight-best threshold ties SASI's worst
    # figure on these entries (0.606 each; README, "where the engine still fails").
    _, fuzzy = best_threshold_by(
        baselines.rapidfuzz_token_set(held.rows), lambda s: evaluate_judged(s, held), limit=3
    )
    assert m.balanced >= fuzzy.balanced, (m, fuzzy)


def test_metrics_definitions() -> None:
    groups = {"a": "g", "b": "g", "c": "x", "d": "y"}
    m = evaluate({"a": ["b", "c"], "b": [], "c": ["d"], "d": []}, groups)
    assert m.precision == pytest.approx(1 / 3)  # b right; c and d wrong
    assert m.recall == pytest.approx(1 / 2)  # a found its partner, b did not
    assert m.quiet == pytest.approx(1 / 2)  # d silent, c not


def test_judged_pair_rules(tmp_path: Path) -> None:
    entries = tmp_path / "e.tsv"
    entries.write_text(
        "row\tname\tdescription\tregion\tagency\tsource_url\n"
        + "".join(f"{i}\tn{i}\td{i}\t\t\thttp://x/{i}\n" for i in range(1, 8)),
        encoding="utf-8",
    )
    grp = tmp_path / "g.tsv"
    grp.write_text(
        "group_id\ttitle\trows\tstrength\n"
        "G1\tsame\t1,2\tstrong\n"
        "G2\ttopic\t2,3\tweak\n"
        "G3\tmixed\t4,5,6\tmixed: 4,5 strong, the rest medium\n",
        encoding="utf-8",
    )
    j = load_judged(entries, grp)
    assert j.label("1", "2") == 1 and j.label("4", "5") == 1
    assert j.label("2", "3") == 0 and j.label("4", "6") == 0
    assert j.label("1", "3") == 0  # across two groups that overlap (row 2)
    assert j.label("1", "7") == -1
    m = evaluate_judged({"1": ["3", "7"], "2": [], "3": ["1"], "7": ["1"]}, j)
    assert m.precision == pytest.approx(0.0)  # 3 is "don't care", 7 is wrong twice
    assert m.recall == pytest.approx(0.0)
    assert m.quiet == pytest.approx(0.0)  # 7, in no group, was shown something
