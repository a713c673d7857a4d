"""The dashboard's HTML, drawn on the server: string templates, every value through
``html.escape`` (names contain ``<b>`` and worse), words from the catalogues (dashboard.*).

No template engine and no client-side rendering: the live part asks the server for the same
fragments (``summary_sections``) and swaps them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bot.dashboard.data import IdeaFile, IdeaPage, Summary
from handlers.i18n import Translator
from handlers.idea_fields import AFFAIRS
from handlers.indicators import indicators
from handlers.money import format_rupiah
from storage.idea_filter import IdeaFilter
from storage.models import IdeaStatus, Opd, SimilarityDecisionKind, Stage

STATIC = "/dasbor/static"


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def page(
    t: Translator,
    *,
    title: str,
    body: str,
    viewer: str | None = None,
    csrf: str | None = None,
    path: str = "/dasbor/",
    query: dict[str, str] | None = None,
) -> str:
    """A whole page: header, navigation, language switch, sign-out, the body."""
    other = "en" if t.locale == "id" else "id"
    switch_query = urlencode({**(query or {}), "lang": other})
    nav = ""
    if viewer is not None:
        nav = (
            '<nav aria-label="{nav}"><a href="/dasbor/">{summary}</a> '
            '<a href="/dasbor/ide">{ideas}</a></nav>'
        ).format(
            nav=e(t("dashboard.nav")),
            summary=e(t("dashboard.nav.summary")),
            ideas=e(t("dashboard.nav.ideas")),
        )
    account = ""
    if viewer is not None and csrf is not None:
        account = (
            '<form method="post" action="/dasbor/keluar" class="signout">'
            '<span class="viewer">{viewer}</span>'
            '<input type="hidden" name="csrf" value="{csrf}">'
            '<button type="submit" id="sign-out">{label}</button></form>'
        ).format(viewer=e(viewer), csrf=e(csrf), label=e(t("dashboard.sign_out")))
    language = t(f"language.name.{other}")
    return f"""<!doctype html>
<html lang="{e(t.locale)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · SASI</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC}/dashboard.css">
<script src="{STATIC}/dashboard.js" defer></script>
</head>
<body>
<a class="skip" href="#main">{e(t("dashboard.skip"))}</a>
<header>
<strong class="brand">SASI · {e(t("dashboard.title"))}</strong>
{nav}
<a class="lang" href="{e(path)}?{e(switch_query)}" hreflang="{other}">{e(language)}</a>
{account}
</header>
<main id="main" tabindex="-1">
<h1>{e(title)}</h1>
{body}
</main>
</body>
</html>"""


def message_page(t: Translator, title: str, text: str) -> str:
    body = f'<p class="notice">{e(text)}</p><p>{e(t("dashboard.how_to_sign_in"))}</p>'
    return page(t, title=title, body=body)


# -- the summary ---------------------------------------------------------------------------


def summary_body(t: Translator, summary: Summary, updated: str) -> str:
    return (
        f'<p class="updated" aria-live="polite">{e(t("dashboard.updated"))} '
        f'<time id="updated">{e(updated)}</time></p>'
        f'<div id="live" data-version="{e(summary.version)}">'
        f"{summary_sections(t, summary)}</div>"
    )


def summary_sections(t: Translator, summary: Summary) -> str:
    f = summary.figures
    return "".join(
        (
            _key_numbers(t, summary),
            _funnel(t, summary),
            _participation(t, summary),
            _monitoring(t, summary),
            _obstacles(t, summary),
            _eviden(t, summary),
            _duplicates(t, summary),
        )
    ) + ("" if f.total_ideas or f.opds else f"<p>{e(t('dashboard.empty'))}</p>")


def _section(key: str, title: str, inner: str) -> str:
    return (
        f'<section id="{key}" aria-labelledby="{key}-h">'
        f'<h2 id="{key}-h">{e(title)}</h2>{inner}</section>'
    )


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """Cells are HTML already (escaped by the caller)."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    heads = "".join(f'<th scope="col">{h}</th>' for h in head)
    return (
        f'<div class="scroll"><table class="{cls}"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _key_numbers(t: Translator, summary: Summary) -> str:
    f = summary.figures
    m = f.monitoring
    items = (
        ("total", t("dashboard.total_ideas"), t.number(f.total_ideas)),
        ("new", t("dashboard.new_ideas"), t.number(f.new_ideas)),
        ("reported", t("dashboard.reported"), f"{t.number(m.reported)} / {t.number(m.due)}"),
        ("overdue", t("dashboard.overdue"), t.number(m.overdue_count)),
        ("no-ideas", t("dashboard.opds_without_ideas"), t.number(len(f.opds_without_ideas))),
    )
    cells = "".join(
        f'<div class="kpi" id="kpi-{key}"><span class="kpi-value">{e(value)}</span>'
        f'<span class="kpi-label">{e(label)}</span></div>'
        for key, label, value in items
    )
    return f'<section class="kpis" aria-label="{e(t("dashboard.key_numbers"))}">{cells}</section>'


def _funnel(t: Translator, summary: Summary) -> str:
    counts = summary.figures.stage_counts()
    top = max([*counts.values(), 1])
    bar_h, gap, label_w, width = 26, 8, 110, 420
    bars = []
    for i, stage in enumerate(Stage):
        n = counts.get(stage, 0)
        y = i * (bar_h + gap)
        w = max(2, int((width - label_w - 60) * n / top)) if n else 0
        bars.append(
            f'<text x="0" y="{y + 18}" class="svg-label">{e(t(f"stage.{stage.value}"))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" rx="3" class="bar"></rect>'
            f'<text x="{label_w + w + 6}" y="{y + 18}" class="svg-value">{e(t.number(n))}</text>'
        )
    height = len(Stage) * (bar_h + gap)
    svg = (
        f'<svg viewBox="0 0 {width} {height}" role="img" class="chart" '
        f'aria-label="{e(t("dashboard.funnel"))}">{"".join(bars)}</svg>'
    )
    cells: dict[tuple[Stage, IdeaStatus], int] = {
        (c.stage, c.status): c.count for c in summary.figures.funnel
    }
    rows = [
        [e(t(f"stage.{stage.value}"))]
        + [e(t.number(cells.get((stage, status), 0))) for status in IdeaStatus]
        for stage in Stage
    ]
    head = [e(t("field.stage"))] + [e(t(f"status.{s.value}")) for s in IdeaStatus]
    return _section("funnel", t("dashboard.funnel"), svg + _table(head, rows))


def _share(t: Translator, part: int, whole: int) -> str:
    if not whole:
        return "–"
    return f"{round(100 * part / whole)}%"


def _participation(t: Translator, summary: Summary) -> str:
    # OPDs without ideas first, then by name: the ones to call are at the top.
    opds = sorted(summary.figures.opds, key=lambda o: (o.ideas > 0, o.name.lower()))
    head = [
        f'<button type="button" class="sort" data-col="{i}" data-type="{kind}">{e(label)}</button>'
        for i, (label, kind) in enumerate(
            (
                (t("field.opd"), "text"),
                (t("dashboard.col.ideas"), "number"),
                (t("dashboard.col.new_ideas"), "number"),
                (t("dashboard.col.asn"), "number"),
                (t("dashboard.col.asn_share"), "number"),
                (t("dashboard.col.officials"), "number"),
            )
        )
    ]
    rows = []
    for o in opds:
        share = "" if o.asn_share is None else f"{o.asn_share:.4f}"
        rows.append(
            [
                f'<span data-sort="{e(o.name.lower())}">{e(o.name)}</span>',
                f'<span data-sort="{o.ideas}">{e(t.number(o.ideas))}</span>',
                f'<span data-sort="{o.new_ideas}">{e(t.number(o.new_ideas))}</span>',
                f'<span data-sort="{o.asn_with_idea}">{e(t.number(o.asn_with_idea))} / '
                f"{e(t.number(o.roster_asn))}</span>",
                f'<span data-sort="{share or -1}">'
                f"{e(_share(t, o.asn_with_idea, o.roster_asn))}</span>",
                f'<span data-sort="{o.officials_with_idea}">{e(t.number(o.officials_with_idea))}'
                f" / {e(t.number(o.roster_officials))}</span>",
            ]
        )
    note = f'<p class="hint">{e(t("dashboard.participation_hint"))}</p>'
    return _section(
        "participation",
        t("dashboard.participation"),
        note + _table(head, rows, cls="sortable"),
    )


def _monitoring(t: Translator, summary: Summary) -> str:
    m = summary.figures.monitoring
    rate = "–" if m.response_rate is None else f"{round(100 * m.response_rate)}%"
    words = t(
        "dashboard.monitoring_lead",
        period=m.period,
        reported=t.number(m.reported),
        due=t.number(m.due),
        rate=rate,
    )
    lead = f"<p>{e(words)}</p>"
    recent = _table(
        [e(t("field.name")), e(t("dashboard.col.reporter")), e(t("dashboard.col.progress"))],
        (
            [
                f'<a href="/dasbor/ide/{r.idea_id}">{e(r.idea_name)}</a>',
                e(r.reporter or "–"),
                e(f"{r.progress}%"),
            ]
            for r in summary.recent_reports
        ),
        cls="recent-reports",
    )
    overdue = _table(
        [e(t("field.name")), e(t("dashboard.col.owner")), e(t("field.opd"))],
        (
            [
                f'<a href="/dasbor/ide/{o.idea_id}">{e(o.idea_name)}</a>',
                e(o.owner_name or "–"),
                e(o.opd_name or "–"),
            ]
            for o in m.overdue
        ),
        cls="overdue",
    )
    return _section(
        "monitoring",
        t("dashboard.monitoring"),
        lead
        + f"<h3>{e(t('dashboard.recent_reports'))}</h3>"
        + (recent if summary.recent_reports else f"<p>{e(t('dashboard.none'))}</p>")
        + f"<h3>{e(t('dashboard.overdue_ideas'))}</h3>"
        + (overdue if m.overdue else f"<p>{e(t('dashboard.none'))}</p>"),
    )


def _label(t: Translator, key: str, fallback: str) -> str:
    return t(key) if t.has(key) else fallback


def _obstacles(t: Translator, summary: Summary) -> str:
    obstacles = summary.figures.obstacles
    if not obstacles:
        return _section("obstacles", t("dashboard.obstacles"), f"<p>{e(t('dashboard.none'))}</p>")
    rows = (
        [e(_label(t, f"obstacle.{code}", code)), e(t.number(n))] for code, n in obstacles.items()
    )
    return _section(
        "obstacles",
        t("dashboard.obstacles"),
        _table([e(t("dashboard.col.obstacle")), e(t("dashboard.col.reports"))], rows),
    )


def _eviden(t: Translator, summary: Summary) -> str:
    gaps = summary.figures.missing_eviden(indicators())
    rows = (
        [
            e(_label(t, f"indicator.{g.indicator}", g.indicator)),
            e(t("dashboard.mandatory") if g.mandatory else ""),
            e(f"{t.number(g.missing)} / {t.number(g.of)}"),
        ]
        for g in gaps
    )
    head = [
        e(t("dashboard.col.indicator")),
        e(t("dashboard.col.mandatory")),
        e(t("dashboard.col.missing")),
    ]
    return _section("eviden", t("dashboard.eviden"), _table(head, rows))


def _duplicates(t: Translator, summary: Summary) -> str:
    decisions = summary.figures.duplicates
    rows = (
        [
            e(_label(t, f"digest.decision.{kind.value}", kind.value)),
            e(t.number(decisions.get(kind, 0))),
        ]
        for kind in SimilarityDecisionKind
    )
    return _section(
        "duplicates",
        t("dashboard.duplicates"),
        f'<p class="hint">{e(t("dashboard.duplicates_hint"))}</p>'
        + _table([e(t("dashboard.col.decision")), e(t("dashboard.col.count"))], rows),
    )


# -- the idea table ------------------------------------------------------------------------


def filter_query(wanted: IdeaFilter) -> dict[str, str]:
    query: dict[str, str] = {}
    if wanted.text:
        query["q"] = wanted.text
    if wanted.opd_ids:
        query["opd"] = str(min(wanted.opd_ids))
    if wanted.stage is not None:
        query["stage"] = wanted.stage.value
    if wanted.status is not None:
        query["status"] = wanted.status.value
    if wanted.is_digital is not None:
        query["digital"] = "yes" if wanted.is_digital else "no"
    if wanted.affair:
        query["affair"] = wanted.affair
    return query


def _select(name: str, label: str, options: Iterable[tuple[str, str]], current: str) -> str:
    opts = "".join(
        f'<option value="{e(v)}"{" selected" if v == current else ""}>{e(text)}</option>'
        for v, text in options
    )
    return f'<label>{e(label)}<select name="{name}" id="f-{name}">{opts}</select></label>'


def ideas_body(t: Translator, result: IdeaPage, wanted: IdeaFilter, opds: Sequence[Opd]) -> str:
    query = filter_query(wanted)
    anything = ("", t("dashboard.any"))
    form = (
        '<form method="get" action="/dasbor/ide" class="filters" role="search">'
        f'<label>{e(t("dashboard.search"))}<input type="search" name="q" id="f-q" '
        f'value="{e(wanted.text or "")}" maxlength="200"></label>'
        + _select(
            "opd",
            t("field.opd"),
            [anything, *((str(o.id), o.name) for o in opds)],
            query.get("opd", ""),
        )
        + _select(
            "stage",
            t("field.stage"),
            [anything, *((s.value, t(f"stage.{s.value}")) for s in Stage)],
            query.get("stage", ""),
        )
        + _select(
            "status",
            t("dashboard.col.status"),
            [anything, *((s.value, t(f"status.{s.value}")) for s in IdeaStatus)],
            query.get("status", ""),
        )
        + _select(
            "digital",
            t("field.digital"),
            [anything, ("yes", t("dashboard.digital")), ("no", t("dashboard.not_digital"))],
            query.get("digital", ""),
        )
        + _select(
            "affair",
            t("field.affair"),
            [anything, *((a, t(f"affair.{a}")) for a in AFFAIRS)],
            query.get("affair", ""),
        )
        + f'<button type="submit" id="apply">{e(t("dashboard.apply"))}</button>'
        f'<a href="/dasbor/ide">{e(t("dashboard.reset"))}</a></form>'
    )
    encoded = urlencode(query)
    sep = "&" if encoded else ""
    exports = (
        f'<p class="exports">{e(t("dashboard.export"))}: '
        f'<a href="/dasbor/ekspor?{e(encoded + sep)}format=xlsx" download>XLSX</a> · '
        f'<a href="/dasbor/ekspor?{e(encoded + sep)}format=csv" download>CSV</a> · '
        f'<a href="/dasbor/ekspor?{e(encoded + sep)}format=csv&amp;part=eviden" download>'
        f"{e(t('dashboard.export_eviden'))}</a></p>"
    )
    count = f'<p id="idea-count">{e(t("dashboard.ideas_found", count=t.number(result.total)))}</p>'
    rows = (
        [
            e(r.id),
            f'<a href="/dasbor/ide/{r.id}">{e(r.name)}</a>',
            e(r.opd or "–"),
            e(t(f"stage.{r.stage.value}")),
            e(t(f"status.{r.status.value}")),
            e(_digital(t, r.is_digital)),
            e(_label(t, f"affair.{r.affair}", r.affair) if r.affair else "–"),
        ]
        for r in result.rows
    )
    head = [
        "#",
        e(t("field.name")),
        e(t("field.opd")),
        e(t("field.stage")),
        e(t("dashboard.col.status")),
        e(t("field.digital")),
        e(t("field.affair")),
    ]
    table = _table(head, rows, cls="ideas")
    pager = ""
    if result.pages > 1:
        links = []
        for target, key in (
            (result.page - 1, "dashboard.previous"),
            (result.page + 1, "dashboard.next"),
        ):
            if 1 <= target <= result.pages:
                href = "/dasbor/ide?" + urlencode({**query, "page": str(target)})
                links.append(f'<a href="{e(href)}">{e(t(key))}</a>')
        pager = (
            f'<nav class="pager" aria-label="{e(t("dashboard.pages"))}">'
            f"{e(t('dashboard.page_of', page=result.page, pages=result.pages))} "
            f"{' '.join(links)}</nav>"
        )
    return form + exports + count + table + pager


def _digital(t: Translator, value: bool | None) -> str:
    if value is None:
        return "–"
    return t("dashboard.digital") if value else t("dashboard.not_digital")


# -- one idea ------------------------------------------------------------------------------


def idea_body(t: Translator, found: IdeaFile, tz: ZoneInfo) -> str:
    idea = found.idea
    profile = [
        (t("field.opd"), idea.opd.name if idea.opd else "–"),
        (t("dashboard.col.owner"), idea.owner.full_name if idea.owner else "–"),
        (t("field.stage"), t(f"stage.{idea.stage.value}")),
        (t("dashboard.col.status"), t(f"status.{idea.status.value}")),
        (t("field.problem"), idea.problem),
        (t("field.idea"), idea.idea),
        (t("field.goal"), idea.goal or "–"),
        (t("field.benefit"), idea.benefit or "–"),
        (t("field.beneficiaries"), idea.beneficiaries or "–"),
        (t("field.digital"), _digital(t, idea.is_digital)),
        (t("field.form"), _label(t, f"form.{idea.form}", idea.form) if idea.form else "–"),
        (
            t("field.affair"),
            _label(t, f"affair.{idea.affair}", idea.affair) if idea.affair else "–",
        ),
        (
            t("field.initiator"),
            _label(t, f"initiator.{idea.initiator}", idea.initiator) if idea.initiator else "–",
        ),
        (
            t("field.budget"),
            format_rupiah(idea.budget_estimate, t.locale)
            if idea.budget_estimate is not None
            else "–",
        ),
        (t("dashboard.launch_date"), idea.launch_date.isoformat() if idea.launch_date else "–"),
    ]
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in profile)
    plan = _table(
        [e(t("dashboard.col.month")), e(t("dashboard.col.activity"))],
        ([e(f"{p.month:%Y-%m}"), e(p.activity)] for p in found.plan),
    )
    reports = _table(
        [
            e(t("dashboard.col.period")),
            e(t("dashboard.col.progress")),
            e(t("dashboard.col.done")),
            e(t("dashboard.col.obstacle")),
            e(t("dashboard.col.next_step")),
        ],
        (
            [
                e(r.period),
                e(f"{r.progress}%"),
                e(r.done),
                e(
                    ", ".join(_label(t, f"obstacle.{c}", str(c)) for c in r.obstacles or ())
                    + (f" ({r.obstacle_note})" if r.obstacle_note else "")
                ),
                e(r.next_step),
            ]
            for r in found.reports
        ),
        cls="reports",
    )
    eviden = _table(
        [
            e(t("dashboard.col.indicator")),
            e(t("dashboard.col.file")),
            e(t("dashboard.col.uploaded")),
        ],
        (
            [
                e(_label(t, f"indicator.{a.indicator}", a.indicator) if a.indicator else "–"),
                e(a.file_name),
                e(f"{a.created_at.astimezone(tz):%d/%m/%Y}"),
            ]
            for a in found.eviden
        ),
    )
    none = f"<p>{e(t('dashboard.none'))}</p>"
    return (
        f'<p><a href="/dasbor/ide">{e(t("dashboard.back_to_ideas"))}</a></p>'
        + _section("profile", t("dashboard.profile"), f"<dl>{dl}</dl>")
        + _section("plan", t("dashboard.plan"), plan if found.plan else none)
        + _section("reports", t("dashboard.reports"), reports if found.reports else none)
        + _section("eviden-list", t("dashboard.eviden_list"), eviden if found.eviden else none)
    )


def clock(moment: datetime, tz: ZoneInfo) -> str:
    return f"{moment.astimezone(tz):%H:%M:%S}"
