"""The catalogues: every key in both languages, the same placeholders, every used key present."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from handlers.i18n import LOCALES, load_catalogue, placeholders
from handlers.idea_fields import AFFAIRS, FIELD_ORDER, FORMS, INITIATORS
from storage.models import IdeaStatus, Stage

ROOT = Path(__file__).resolve().parent.parent
# t("key") / ctx.t("key", ...) with a literal key, in the core and the channels.
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+(?:\.[a-z_]+)+)["']""")


def test_both_catalogues_have_the_same_keys() -> None:
    indonesian, english = load_catalogue("id"), load_catalogue("en")
    assert sorted(set(indonesian) - set(english)) == [], "missing from the English catalogue"
    assert sorted(set(english) - set(indonesian)) == [], "missing from the Indonesian catalogue"


def test_placeholders_match_between_languages() -> None:
    indonesian, english = load_catalogue("id"), load_catalogue("en")
    differing = {
        key: (placeholders(indonesian[key]), placeholders(english[key]))
        for key in indonesian
        if key in english and placeholders(indonesian[key]) != placeholders(english[key])
    }
    assert differing == {}


@pytest.mark.parametrize("locale", LOCALES)
def test_no_message_is_empty(locale: str) -> None:
    assert [k for k, v in load_catalogue(locale).items() if not v.strip()] == []


def test_every_key_used_in_code_exists() -> None:
    used: set[str] = set()
    for folder in ("handlers", "bot"):
        for path in (ROOT / folder).rglob("*.py"):
            used |= set(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    assert used, "the scan found no keys at all: the pattern is broken"
    catalogue = load_catalogue("id")
    assert sorted(used - set(catalogue)) == []


def test_every_enumerated_value_has_a_label() -> None:
    catalogue = load_catalogue("id")
    wanted = (
        [f"stage.{s.value}" for s in Stage]
        + [f"status.{s.value}" for s in IdeaStatus]
        + [f"affair.{a}" for a in AFFAIRS]
        + [f"form.{f}" for f in FORMS]
        + [f"initiator.{i}" for i in INITIATORS]
        + [f"field.{f}" for f in FIELD_ORDER]
        + [f"language.name.{code}" for code in LOCALES]
        + [f"channel.{c}" for c in ("telegram", "whatsapp", "terminal")]
    )
    assert [key for key in wanted if key not in catalogue] == []


def test_indonesian_uses_the_polite_anda() -> None:
    texts = " ".join(load_catalogue("id").values()).lower()
    assert "anda" in texts
    assert not re.search(r"\b(kamu|kau|lu|elo)\b", texts)
