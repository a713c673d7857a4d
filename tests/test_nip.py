"""NIP validation: the layout of DESIGN.md, and what the person is told."""

from __future__ import annotations

from datetime import date

import pytest

from handlers.nip import Nip, NipProblem, parse_nip
from tests.chat import ID, ChatDriver

TODAY = date(2026, 11, 24)


def test_a_valid_nip_is_parsed() -> None:
    parsed = parse_nip("198503142010011004", TODAY)
    assert parsed == Nip("198503142010011004", date(1985, 3, 14), (2010, 1), 1)


@pytest.mark.parametrize(
    "raw", ["19850314 201001 1 004", "19850314.201001.1.004", " 198503142010011004 "]
)
def test_spaces_and_dots_are_ignored(raw: str) -> None:
    assert isinstance(parse_nip(raw, TODAY), Nip)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("19850314201001100", NipProblem.WRONG_LENGTH),  # 17 digits
        ("1985031420100110045", NipProblem.WRONG_LENGTH),  # 19 digits
        ("", NipProblem.WRONG_LENGTH),
        ("1985O3142010011004", NipProblem.NOT_DIGITS),  # a letter O
        ("１９８５０３１４２０１００１１００４", NipProblem.NOT_DIGITS),  # full-width digits
        ("198502302010011004", NipProblem.BAD_BIRTH_DATE),  # 30 February
        ("198513012010011004", NipProblem.BAD_BIRTH_DATE),  # month 13
        ("203001012050011004", NipProblem.BAD_BIRTH_DATE),  # born in the future
        ("185001012010011004", NipProblem.BAD_BIRTH_DATE),  # born 1850
        ("198503142010131004", NipProblem.BAD_APPOINTMENT),  # appointed in month 13
        ("198503142010001004", NipProblem.BAD_APPOINTMENT),  # appointed in month 00
        ("198503141995011004", NipProblem.BAD_APPOINTMENT),  # appointed at 9 years old
        ("198503142030011004", NipProblem.BAD_APPOINTMENT),  # appointed in the future
        ("198503142010013004", NipProblem.BAD_GENDER),  # gender digit 3
        ("198503142010010004", NipProblem.BAD_GENDER),  # gender digit 0
    ],
)
def test_invalid_nips_say_what_is_wrong(raw: str, problem: NipProblem) -> None:
    assert parse_nip(raw, TODAY) is problem


def test_a_female_nip_has_gender_two() -> None:
    parsed = parse_nip("199107082019032012", TODAY)
    assert isinstance(parsed, Nip) and parsed.gender == 2


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("12345", "nip.wrong_length"),
        ("198502302010011004", "nip.bad_birth_date"),
        ("198503142010013004", "nip.bad_gender"),
        ("198503142010131004", "nip.bad_appointment"),
        ("NIP saya belum ada", "nip.not_digits"),
    ],
)
async def test_the_person_is_told_and_asked_again(chat: ChatDriver, raw: str, key: str) -> None:
    await chat.say("budi", "/mulai")
    await chat.say("budi", "Budi Santoso")
    replies = await chat.say("budi", raw)
    assert [r.text for r in replies] == [ID(key), ID("registration.ask_nip")]
