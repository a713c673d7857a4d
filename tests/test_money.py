from __future__ import annotations

import pytest

from handlers.money import format_rupiah, parse_rupiah, read_rupiah


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
        ("Rp 2,5 miliar", 2_500_000_000),
        ("250rb", 250_000),
        ("750 ribu", 750_000),
        ("0", 0),
        # Issue 12.1: a sen part and a ",-" ending are read as people mean them.
        ("Rp 12.500.000,00", 12_500_000),
        ("50.000.000,50", 50_000_000),  # the sen are dropped, not added as digits
        ("Rp 12.500.000,-", 12_500_000),
        ("Rp. 12.500.000.-", 12_500_000),
        ("12500000,00", 12_500_000),
        ("12,500,000.00", 12_500_000),
        ("IDR 5.000.000", 5_000_000),
        ("5 juta rupiah", 5_000_000),
        ("Rp 250.000", 250_000),
    ],
)
def test_amounts_as_people_type_them(text: str, amount: int) -> None:
    assert read_rupiah(text) == [amount]
    assert parse_rupiah(text) == amount


@pytest.mark.parametrize(
    ("text", "readings"),
    [
        ("12.500", [12_500, 12_500_000]),  # rupiah, or thousands as budget tables write them
        ("1.500 juta", [1_500_000, 1_500_000_000]),  # 1,5 juta, or one thousand five hundred
        ("50", [50, 50_000, 50_000_000]),
    ],
)
def test_a_text_with_two_meanings_gives_both(text: str, readings: list[int]) -> None:
    assert read_rupiah(text) == readings
    assert parse_rupiah(text) is None


@pytest.mark.parametrize(
    "text",
    ["", "banyak", "50 ekor", "-5", "1.2.3 juta", "9" * 30, "1.500.5", "12.500,000", "Rp"],
)
def test_not_amounts(text: str) -> None:
    assert read_rupiah(text) == []
    assert parse_rupiah(text) is None


def test_formatting_uses_the_locales_separators() -> None:
    assert format_rupiah(1_500_000) == "Rp1.500.000"
    assert format_rupiah(1_500_000, "en") == "Rp1,500,000"
