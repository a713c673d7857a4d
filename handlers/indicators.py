"""The IID innovation indicators, read from ``handlers/data/iid_indicators.tsv``.

Each eviden file is tagged with the indicator it proves; Bappeda sees per idea which proofs
are still missing, and monthly prompts ask for them. Labels are in the catalogues
(``indicator.<code>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

INDICATORS_FILE = Path(__file__).resolve().parent / "data" / "iid_indicators.tsv"


@dataclass(frozen=True)
class Indicator:
    code: str
    mandatory: bool
    proofs: str


@cache
def indicators() -> tuple[Indicator, ...]:
    """Every indicator, in the file's order."""
    found: list[Indicator] = []
    for line in INDICATORS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, mandatory, proofs = [*line.split("\t"), "", ""][:3]
        found.append(Indicator(code.strip(), mandatory.strip() == "yes", proofs.strip()))
    return tuple(found)


def indicator_codes() -> tuple[str, ...]:
    return tuple(i.code for i in indicators())


def missing_indicators(proven: set[str]) -> list[Indicator]:
    """Indicators without eviden yet, mandatory ones first."""
    missing = [i for i in indicators() if i.code not in proven]
    return sorted(missing, key=lambda i: not i.mandatory)
