from __future__ import annotations

import pytest

from handlers.money import format_rupiah, parse_rupiah


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("50000000", 50_000_000),
        ("Rp 50.000.000", 50_000_000),
        ("Rp50.000.000", 50_000_000),
        ("50 juta", 50_000_000),
        ("1,5 juta", 1_500_000),
        ("1.5 jt", 1_500_000),
        ("2 M", 2_000_000_000),
        ("250rb", 250_000),
        ("0", 0),
    ],
)
def test_amounts_as_people_type_them(text: str, amount: int) -> None:
    assert parse_rupiah(text) == amount


@pytest.mark.parametrize("text", ["", "banyak", "50 ekor", "-5", "1.2.3 juta", "9" * 30])
def test_not_amounts(text: str) -> None:
    assert parse_rupiah(text) is None


def test_formatting_uses_indonesian_separators() -> None:
    assert format_rupiah(1_500_000) == "Rp1.500.000"
