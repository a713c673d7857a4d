"""The digest's chart: the funnel by stage and status, and the OPDs furthest behind.

Drawn with matplotlib's object API on the Agg canvas (no pyplot: no global state, no
display, safe beside the event loop's other work) into PNG bytes.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from handlers.i18n import Translator
from storage.figures import ProgrammeFigures
from storage.models import IdeaStatus, Stage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BEHIND = 10  # OPDs shown in the right-hand panel
STATUS_COLOURS = {
    IdeaStatus.SUBMITTED: "#9ecae1",
    IdeaStatus.VERIFIED: "#3182bd",
    IdeaStatus.REJECTED: "#e6550d",
    IdeaStatus.MERGED: "#a1d99b",
    IdeaStatus.WITHDRAWN: "#bdbdbd",
}


def _plain(text: str) -> str:
    """A label as written: matplotlib reads text between two "$" as a formula."""
    return text.replace("$", r"\$")


def digest_chart(figures: ProgrammeFigures, t: Translator) -> bytes:
    """The chart as PNG bytes, labelled in ``t``'s language."""
    figure = Figure(figsize=(10, 4.8), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    funnel, behind = figure.subplots(1, 2, width_ratios=(1, 1.2))
    _funnel(funnel, figures, t)
    _behind(behind, figures, t)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def default_chart_dir() -> Path:
    return Path(tempfile.gettempdir()) / "sasi-charts"


def chart_file(figures: ProgrammeFigures, t: Translator, directory: Path | None = None) -> Path:
    """The chart written to ``directory`` (the system's temporary one by default), named by
    its content: the outbox keeps only the path, and the same chart is written once."""
    png = digest_chart(figures, t)
    folder = directory or default_chart_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rekap-{hashlib.sha256(png).hexdigest()[:20]}.png"
    if not path.exists():
        partial = path.with_suffix(".part")
        partial.write_bytes(png)
        partial.replace(path)  # a reader never sees half a file
    return path


def _funnel(axes: Axes, figures: ProgrammeFigures, t: Translator) -> None:
    stages = list(Stage)
    counts = {(c.stage, c.status): c.count for c in figures.funnel}
    labels = [_plain(t(f"stage.{s.value}")) for s in stages]
    positions = list(range(len(stages)))[::-1]  # Drum-up on top, as the funnel reads
    left = [0] * len(stages)
    for status in IdeaStatus:
        widths = [counts.get((s, status), 0) for s in stages]
        if not any(widths):
            continue
        axes.barh(
            positions,
            widths,
            left=left,
            color=STATUS_COLOURS[status],
            label=t(f"status.{status.value}"),
        )
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.set_yticks(positions, labels)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title(t("digest.chart.funnel"))
    axes.set_xlabel(t("digest.chart.ideas"))
    if figures.funnel:
        axes.legend(loc="lower right", fontsize="small")
    else:
        axes.text(0.5, 0.5, t("digest.chart.no_data"), ha="center", transform=axes.transAxes)


def _behind(axes: Axes, figures: ProgrammeFigures, t: Translator) -> None:
    behind = figures.furthest_behind(BEHIND)
    axes.set_title(t("digest.chart.behind"))
    axes.set_xlabel(t("digest.chart.share"))
    axes.set_xlim(0, 100)
    if not behind:
        axes.text(0.5, 0.5, t("digest.chart.no_data"), ha="center", transform=axes.transAxes)
        axes.set_yticks([])
        return
    positions = list(range(len(behind)))[::-1]  # the furthest behind on top
    shares = [100 * (o.asn_share or 0.0) for o in behind]
    axes.barh(positions, shares, color="#fd8d3c")
    axes.set_yticks(positions, [_plain(o.short_name) for o in behind])
    for position, opd, share in zip(positions, behind, shares, strict=True):
        note = f"{t.number(opd.asn_with_idea)}/{t.number(opd.roster_asn)}"
        axes.text(share + 1, position, note, va="center", fontsize="small")
