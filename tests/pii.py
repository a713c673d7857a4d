"""Personal data must not reach the logs (UU 27/2022): a check over every captured line.

Logs name people by SASI's internal ids (identity, person, inbound row); never by phone
number, BSUID, NIP, name or Telegram user id.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# What the end-to-end tests use as personal data: Indonesian phone numbers (62…), NIPs (18
# digits), BSUIDs, message ids that encode a number, and the people's names.
PATTERNS = [
    re.compile(r"(?<!\d)62\d{7,13}(?!\d)"),
    re.compile(r"(?<!\d)\d{18}(?!\d)"),
    re.compile(r"\b[A-Z]{2}\.(?:ENT\.)?\d{6,}"),
    re.compile(r"Rina Marlina|Budi Santoso|Siti Aminah"),
    # Meta's message ids carry the sender's number in base64 ("6281…" is "NjI4MT…").
    re.compile(r"NjI4MT"),
]


def personal_data_in(records: Iterable[logging.LogRecord], extra: Iterable[str] = ()) -> list[str]:
    """The log lines (with their tracebacks) that name a person."""
    words = [w for w in extra if w]
    found: list[str] = []
    for record in records:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        if any(p.search(text) for p in PATTERNS) or any(w in text for w in words):
            found.append(f"{record.name}: {text[:300]}")
    return found
