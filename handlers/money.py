"""Reading rupiah amounts the way people type them: "Rp 50.000.000", "Rp 12.500.000,-",
"50 juta", "1,5 M", "250rb".

The rules, in order:

- "Rp", "Rp.", "IDR" in front and "rupiah" behind are ignored, and so are spaces.
- A ",-" or ".-" ending, and a sen part (",00", ",50"), are dropped: a budget estimate is in
  whole rupiah.
- Without a unit, a separator followed by groups of three digits groups thousands, whether a
  dot (Indonesian) or a comma (English): "12.500.000" and "12,500,000" are both twelve and a
  half million. With both, the last one is the decimal separator.
- With a unit (rb/ribu/k, jt/juta, M/miliar/milyar, T/triliun; "M" is miliar, as in
  Indonesian budgets), a separator followed by one or two digits is a decimal point: "1,5
  juta", "1.5 jt".
- Two readings are offered, never guessed, when the text really allows both: one separator
  and three digits with a unit ("1.500 juta": 1.500 juta or 1,5 juta), and an amount under
  Rp100.000 with no unit ("12.500" may be Rp12.500 or Rp12.500.000 written in thousands, as
  budget tables do; "50" may be Rp50, 50 ribu or 50 juta).
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_decimal

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
_PATTERN = re.compile(r"^(?:rp\.?|idr)?([\d.,]+?)(?:[.,]-)?([a-z]*?)\.?(?:rupiah)?$")
_GROUPED = re.compile(r"^\d{1,3}(?:[.,]\d{3})+$")
MAX_BUDGET = 10**15  # a thousand trillion rupiah: anything above is a typing slip
SMALL_BUDGET = 100_000  # below this, a bare number is as likely shorthand as rupiah


def read_rupiah(raw: str) -> list[int]:
    """Every sensible reading in whole rupiah, smallest first: none when the text is not an
    amount, one when it is clear, more when the person must be asked which they meant."""
    text = raw.strip().lower().replace(" ", "")
    match = _PATTERN.match(text)
    if not match:
        return []
    number, unit = match.groups()
    if unit and unit not in _UNITS:
        return []
    values = _numbers(number, with_unit=bool(unit))
    if not unit and len(values) == 1:
        [value] = values
        if 0 < value < SMALL_BUDGET:
            # Small for an innovation budget: perhaps written in thousands, or in millions.
            values |= {value * 10**3} | ({value * 10**6} if value < 1000 else set())
    multiplier = _UNITS.get(unit, 1)
    readings = {int(v * multiplier) for v in values}  # int() drops the sen
    return sorted(r for r in readings if 0 <= r <= MAX_BUDGET)


def _numbers(number: str, *, with_unit: bool) -> set[Decimal]:
    """What the digits and separators may mean (before any unit)."""
    if number.isdigit():
        return {Decimal(number)}
    marks = {ch for ch in number if not ch.isdigit()}
    digits = number.replace(".", "").replace(",", "")
    if _GROUPED.match(number):
        if len(marks) > 1:
            return set()  # "12.500,000": a thousands mark must be the same throughout
        if with_unit and number.count(number[-4]) == 1:
            # "1.500 juta": 1.500 juta (1,5 miliar) or 1,5 juta; ask.
            return {Decimal(digits), Decimal(digits) / 1000}
        return {Decimal(digits)}  # "12.500.000", "12,500"
    # Otherwise the last separator is the decimal one: "12.500.000,00", "1,5", "1.5".
    last = max(number.rfind("."), number.rfind(","))
    whole, tail = number[:last], number[last + 1 :]
    if not (1 <= len(tail) <= 2 and tail.isdigit() and whole):
        return set()
    if not (whole.isdigit() or (_GROUPED.match(whole) and number[last] not in whole)):
        return set()  # "1.2.3", "1.500.5"
    return {Decimal(whole.replace(".", "").replace(",", "") + "." + tail)}


def parse_rupiah(raw: str) -> int | None:
    """The amount in whole rupiah when the text has exactly one reading, else None."""
    readings = read_rupiah(raw)
    return readings[0] if len(readings) == 1 else None


def format_rupiah(amount: int, locale: str = "id") -> str:
    """``50000000`` → ``Rp50.000.000`` (the thousands separator of ``locale``)."""
    return "Rp" + format_decimal(amount, locale=locale)
