"""Reading rupiah amounts the way people type them: "Rp 50.000.000", "50 juta", "1,5 M"."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_UNITS = {
    "rb": 10**3,
    "ribu": 10**3,
    "k": 10**3,
    "jt": 10**6,
    "juta": 10**6,
    "m": 10**9,
    "miliar": 10**9,
    "milyar": 10**9,
    "t": 10**12,
    "triliun": 10**12,
}
_PATTERN = re.compile(r"^(?:rp\.?)?\s*([\d.,]+)\s*([a-z]*)\.?$")
MAX_BUDGET = 10**15  # a thousand trillion rupiah: anything above is a typing slip


def parse_rupiah(raw: str) -> int | None:
    """The amount in whole rupiah, or None when the text is not an amount."""
    text = raw.strip().lower().replace(" ", "")
    match = _PATTERN.match(text)
    if not match:
        return None
    number, unit = match.groups()
    multiplier = 1
    if unit:
        if unit not in _UNITS:
            return None
        multiplier = _UNITS[unit]
    if multiplier == 1:
        # "50.000.000" and "50,000,000": separators group thousands, they are not decimals.
        digits = number.replace(".", "").replace(",", "")
        value = Decimal(digits) if digits.isdigit() else None
    else:
        # "1,5 juta" / "1.5 juta": the separator is a decimal point.
        try:
            value = Decimal(number.replace(",", "."))
        except InvalidOperation:
            value = None
    if value is None:
        return None
    amount = int(value * multiplier)
    return amount if 0 <= amount <= MAX_BUDGET else None


def format_rupiah(amount: int) -> str:
    """``50000000`` → ``Rp50.000.000`` (Indonesian thousands separator)."""
    return "Rp" + f"{amount:,}".replace(",", ".")
