"""storage/figures.py against the hand-computed Pemda of tests/figures_fixture.py."""

from __future__ import annotations

import pytest

from bot.app import Core
from handlers.indicators import indicators
from storage.figures import ProgrammeFigures, Window, programme_figures
from storage.models import IdeaStatus, SimilarityDecisionKind, Stage
from tests.figures_fixture import LAUNCHED_BY, MOMENT, PERIOD, Fixture, seed


async def _figures(core: Core, scope: set[int] | None) -> ProgrammeFigures:
    async with core.database.sessions() as session:
        return await programme_figures(
            session,
            scope=scope,
            window=Window.week_before(MOMENT),
            period=PERIOD,
            launched_by=LAUNCHED_BY,
        )


@pytest.fixture
async def world(core: Core) -> Fixture:
    return await seed(core.database)


async def test_the_whole_pemda(core: Core, world: Fixture) -> None:
    f = await _figures(core, None)
    assert f.total_ideas == 7
    assert f.new_ideas == 4  # i2, i3, i5, i7
    assert {(c.stage, c.status): c.count for c in f.funnel} == {
        (Stage.DIAGNOSE, IdeaStatus.WITHDRAWN): 1,
        (Stage.DESIGN, IdeaStatus.SUBMITTED): 1,
        (Stage.DELIVER, IdeaStatus.SUBMITTED): 1,
        (Stage.DELIVER, IdeaStatus.VERIFIED): 2,
        (Stage.DELIVER, IdeaStatus.REJECTED): 1,
        (Stage.DISPLAY, IdeaStatus.VERIFIED): 1,
    }
    assert f.stage_counts()[Stage.DELIVER] == 4
    assert f.status_counts()[IdeaStatus.VERIFIED] == 3

    by_name = {o.short_name: o for o in f.opds}
    assert [o.short_name for o in f.opds] == ["Alpha", "Beta", "Gamma"]
    alpha, beta, gamma = by_name["Alpha"], by_name["Beta"], by_name["Gamma"]
    assert (alpha.ideas, alpha.new_ideas, alpha.roster_asn, alpha.asn_with_idea) == (3, 2, 4, 3)
    assert (alpha.roster_officials, alpha.officials_with_idea) == (2, 2)
    assert (beta.ideas, beta.new_ideas, beta.roster_asn, beta.asn_with_idea) == (3, 1, 2, 2)
    assert (beta.roster_officials, beta.officials_with_idea) == (1, 1)
    assert (gamma.ideas, gamma.roster_asn, gamma.asn_with_idea, gamma.roster_officials) == (
        0,
        1,
        0,
        0,
    )
    assert alpha.asn_share == 0.75 and gamma.asn_share == 0.0
    assert [o.short_name for o in f.opds_without_ideas] == ["Gamma"]
    assert (f.roster_asn, f.asn_with_idea, f.roster_officials, f.officials_with_idea) == (
        7,
        5,
        3,
        3,
    )
    assert [o.short_name for o in f.furthest_behind(2)] == ["Gamma", "Alpha"]

    assert f.duplicates == {
        SimilarityDecisionKind.CONTINUE: 1,
        SimilarityDecisionKind.JOIN: 1,
        SimilarityDecisionKind.REPLICATE: 0,
        SimilarityDecisionKind.CANCEL: 1,
    }

    m = f.monitoring
    assert (m.period, m.due, m.reported, m.overdue_count) == (PERIOD, 2, 1, 1)
    assert m.response_rate == 0.5
    assert m.overdue_by_opd == {world.opds["Alpha"]: 1}
    [late] = m.overdue
    assert (late.idea_id, late.owner_id, late.owner_name, late.opd_name) == (
        world.ideas["i2"],
        world.users["u3"],
        "Orang u3",
        "Dinas Alpha",
    )
    assert f.obstacles == {"budget": 2, "staff": 1, "regulation": 1}

    assert f.eviden_ideas == 4  # i1, i2, i4, i5
    missing = {e.indicator: e.missing for e in f.missing_eviden(indicators())}
    assert missing["regulasi"] == 2 and missing["sdm"] == 2
    assert all(n == 4 for code, n in missing.items() if code not in ("regulasi", "sdm"))
    assert len(missing) == len(indicators())


async def test_a_coordinators_opd(core: Core, world: Fixture) -> None:
    f = await _figures(core, {world.opds["Alpha"]})
    assert f.total_ideas == 4 and f.new_ideas == 3  # i1, i2, i3, i7; new i2, i3, i7
    assert sum(c.count for c in f.funnel) == 4
    assert [(o.short_name, o.ideas, o.asn_with_idea) for o in f.opds] == [("Alpha", 3, 3)]
    assert f.opds_without_ideas == ()
    assert f.duplicates[SimilarityDecisionKind.CONTINUE] == 1
    assert f.duplicates[SimilarityDecisionKind.CANCEL] == 1
    assert f.duplicates[SimilarityDecisionKind.JOIN] == 0
    assert (f.monitoring.due, f.monitoring.reported) == (2, 1)
    assert f.obstacles == {"budget": 1, "staff": 1}
    assert f.eviden_ideas == 2
    missing = {e.indicator: e.missing for e in f.missing_eviden(indicators())}
    assert missing["regulasi"] == 0 and missing["sdm"] == 1 and missing["anggaran"] == 2


async def test_an_empty_scope_sees_nothing(core: Core, world: Fixture) -> None:
    f = await _figures(core, set())
    assert (f.total_ideas, f.new_ideas, f.opds, f.monitoring.due, f.eviden_ideas) == (
        0,
        0,
        (),
        0,
        0,
    )
    assert f.obstacles == {} and sum(f.duplicates.values()) == 0


async def test_without_launch_cut_off_every_deliver_idea_is_due(core: Core, world: Fixture) -> None:
    async with core.database.sessions() as session:
        f = await programme_figures(
            session, scope=None, window=Window.week_before(MOMENT), period=PERIOD
        )
    assert (f.monitoring.due, f.monitoring.reported) == (3, 2)  # i5 counts now
