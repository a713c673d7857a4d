"""Metrics on what a submitter sees, for labelled near-duplicate data.

Labels: every row has a ``group``; rows sharing a group are the same idea. A query
"has a partner" when another row carries its group.

* precision: of all ideas shown (over all queries), the share in the query's group;
* recall: of the queries with a partner, the share shown at least one partner;
* quiet: of the queries without a partner, the share shown nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Metrics:
    """Precision, recall and quiet with the counts behind them."""

    precision: float
    recall: float
    quiet: float
    shown: int
    with_partner: int
    without_partner: int

    def meets(self, other: Metrics) -> bool:
        """Whether every figure is at least ``other``'s."""
        return (
            self.precision >= other.precision
            and self.recall >= other.recall
            and self.quiet >= other.quiet
        )

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        s = self.precision + self.recall
        return 2 * self.precision * self.recall / s if s else 0.0

    @property
    def balanced(self) -> float:
        """Worst of the three; used to pick baseline thresholds in hindsight."""
        return min(self.precision, self.recall, self.quiet)


def evaluate(shown: Mapping[str, Sequence[str]], groups: Mapping[str, str]) -> Metrics:
    """Score ``shown[query_id] -> [match ids]`` against ``groups[id] -> group``."""
    size = Counter(groups.values())
    correct = total = 0
    hit = partnered = 0
    silent = lonely = 0
    for qid, group in groups.items():
        matches = list(shown.get(qid, ()))
        total += len(matches)
        good = sum(1 for m in matches if groups.get(m) == group)
        correct += good
        if size[group] > 1:
            partnered += 1
            hit += good > 0
        else:
            lonely += 1
            silent += not matches
    return Metrics(
        precision=correct / total if total else 1.0,
        recall=hit / partnered if partnered else 1.0,
        quiet=silent / lonely if lonely else 1.0,
        shown=total,
        with_partner=partnered,
        without_partner=lonely,
    )


def best_threshold(
    scored: Mapping[str, Sequence[tuple[str, float]]],
    groups: Mapping[str, str],
    limit: int = 3,
    candidates: Sequence[float] | None = None,
    objective: Callable[[Metrics], float] = lambda m: m.balanced,
) -> tuple[float, Metrics]:
    """Threshold that maximises ``objective`` when each query shows its top ``limit``
    matches at or above it. ``scored`` holds every candidate with its score, best first.
    """
    return best_threshold_by(
        scored, lambda shown: evaluate(shown, groups), limit, candidates, objective
    )


def best_threshold_by(
    scored: Mapping[str, Sequence[tuple[str, float]]],
    judge: Callable[[Mapping[str, Sequence[str]]], Metrics],
    limit: int = 3,
    candidates: Sequence[float] | None = None,
    objective: Callable[[Metrics], float] = lambda m: m.balanced,
) -> tuple[float, Metrics]:
    """:func:`best_threshold` with any judge of what is shown (e.g. the real sets'
    pair labels, :func:`bot.similarity.judged.evaluate_judged`)."""
    grid = candidates if candidates is not None else [t / 2 for t in range(0, 201)]
    best: tuple[float, Metrics] | None = None
    for thr in grid:
        shown = {q: [d for d, s in ms if s >= thr][:limit] for q, ms in scored.items()}
        m = judge(shown)
        if best is None or objective(m) > objective(best[1]):
            best = (thr, m)
    assert best is not None
    return best
