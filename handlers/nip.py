"""NIP (Nomor Induk Pegawai) validation: 18 digits that must describe a possible civil servant.

Layout: birth date ``YYYYMMDD``, appointment ``YYYYMM``, gender digit (1 male, 2 female),
three-digit sequence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

MIN_APPOINTMENT_AGE = 17  # CPNS applicants are at least 18; a year of slack for rounding


class NipProblem(enum.Enum):
    NOT_DIGITS = "not_digits"
    WRONG_LENGTH = "wrong_length"
    BAD_BIRTH_DATE = "bad_birth_date"
    BAD_APPOINTMENT = "bad_appointment"
    BAD_GENDER = "bad_gender"


@dataclass(frozen=True)
class Nip:
    value: str
    birth_date: date
    appointment: tuple[int, int]
    gender: int


def normalise_nip(raw: str) -> str:
    """People paste NIPs with spaces or dots (``19850317 201001 1 004``): keep the digits."""
    return "".join(ch for ch in raw if not (ch.isspace() or ch in ".-"))


def parse_nip(raw: str, today: date) -> Nip | NipProblem:
    """The parsed NIP, or what is wrong with it."""
    value = normalise_nip(raw)
    if not value:
        return NipProblem.WRONG_LENGTH
    if not value.isascii() or not value.isdigit():
        return NipProblem.NOT_DIGITS
    if len(value) != 18:
        return NipProblem.WRONG_LENGTH
    try:
        birth = date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        return NipProblem.BAD_BIRTH_DATE
    if birth.year < 1940 or birth >= today:
        return NipProblem.BAD_BIRTH_DATE
    year, month = int(value[8:12]), int(value[12:14])
    if not 1 <= month <= 12:
        return NipProblem.BAD_APPOINTMENT
    if (year, month) > (today.year, today.month):
        return NipProblem.BAD_APPOINTMENT
    if (year, month) < (birth.year + MIN_APPOINTMENT_AGE, birth.month):
        return NipProblem.BAD_APPOINTMENT
    gender = int(value[14])
    if gender not in (1, 2):
        return NipProblem.BAD_GENDER
    return Nip(value=value, birth_date=birth, appointment=(year, month), gender=gender)
