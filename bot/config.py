"""Settings, read once from an injectable environment mapping (and a ``.env`` file)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

SUPPORTED_LOCALES = ("id", "en")
SUPPORTED_TIMEZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")
# Even March 2027 (Nyepi, Idul Fitri and cuti bersama) has 16 working days.
MAX_MONITORING_DAY = 15
_CLOCK = re.compile(r"(\d{1,2})[:.](\d{2})")
# SASI_DIGEST_AT's day, in English or Indonesian: "mon 07:30", "senin 07:30".
WEEKDAYS = {
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{
        name: i
        for i, name in enumerate(("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu"))
    },
}
CHAT_CHANNELS = ("telegram", "whatsapp", "terminal")


def _bot_api_root(url: str | None) -> str | None:
    """The Bot API server's root. python-telegram-bot documents its base URL with "/bot" at
    the end (``http://localhost:8081/bot``); the channel appends "/bot" and "/file/bot"
    itself, so that form would become ".../bot/bot<token>", which Telegram rejects as an
    invalid token. Both forms are accepted and mean the same server."""
    if url is None:
        return None
    root = url.rstrip("/")
    return root.removesuffix("/bot") or None


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Everything SASI reads from its environment. Names follow DESIGN.md."""

    database_url: str = "sqlite+aiosqlite:///sasi.db"
    timezone: str = "Asia/Jakarta"
    locale: str = "id"
    data_dir: Path = Path("data")
    attachments_dir: Path = Path("data/attachments")
    telegram_bot_token: str | None = None
    telegram_api_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_verify_token: str | None = None
    whatsapp_api_base_url: str = "https://graph.facebook.com/v21.0"
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    bappeda_push_url: str | None = None
    bappeda_push_secret: str | None = None
    # The weekly digest: weekday (0 = Monday) and local time, moved to the first working
    # moment at or after it; sent to these chats and every Bappeda officer's private chat.
    digest_weekday: int = 0
    digest_time: time = time(7, 30)
    bappeda_chats: tuple[tuple[str, str], ...] = ()  # (channel, chat id or number)
    pemda_name: str | None = None  # heads the digest ("Kabupaten Sukamaju")
    # The dashboard: the base of its sign-in links, and the key that signs them (None: one
    # made on first use and kept in the database).
    public_url: str = "http://localhost:8080"
    dashboard_secret: str | None = None
    # The calendar (local time, working days: see bot/calendar/working_time.py).
    quiet_start: time = time(20, 0)
    quiet_end: time = time(7, 0)
    monitoring_day: int = 1  # the N-th working day of the month
    monitoring_time: time = time(9, 0)
    reminder_days: tuple[int, ...] = (7, 3, 1)  # working days before a deadline
    follow_up_days: int = 3
    escalation_days: int = 7
    retention_days: int = 90
    # The channels' overall sending budgets (messages a second per bot token / number):
    # Telegram's and Meta's defaults; higher only for an account allowed more (and for the
    # replicas' load test, which measures processing, not Telegram's budget).
    telegram_per_second: int = 30
    whatsapp_per_second: int = 80
    # The largest document each channel takes (bytes): a bot may send 50 MB on Telegram, a
    # business number 100 MB on WhatsApp. A larger /ekspor file is refused with advice.
    telegram_document_limit: int = 50 * 1024 * 1024
    whatsapp_document_limit: int = 100 * 1024 * 1024
    # Charts and export files written for delivery are removed after this many hours.
    generated_files_hours: int = 24
    # A digest push refused for this many hours is reported once to the Bappeda officers.
    push_alert_hours: int = 24

    @property
    def stem_cache(self) -> Path:
        """Where the similarity index keeps word stems between restarts (a cache, safe to
        delete: the next start recomputes it, more slowly)."""
        return self.data_dir / "cache" / "similarity-stems.tsv"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.whatsapp_token and self.whatsapp_phone_number_id)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
    ) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``) over a ``.env`` file.

        The real environment wins over the file, as with most twelve-factor tools.
        """
        env: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        env.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        defaults = cls()
        timezone = get("SASI_TIMEZONE") or defaults.timezone
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"SASI_TIMEZONE: unknown time zone {timezone!r}") from exc
        locale = get("SASI_LOCALE") or defaults.locale
        if locale not in SUPPORTED_LOCALES:
            raise ConfigError(f"SASI_LOCALE must be one of {', '.join(SUPPORTED_LOCALES)}")
        port_text = get("SASI_HTTP_PORT") or str(defaults.http_port)
        try:
            port = int(port_text)
        except ValueError as exc:
            raise ConfigError(f"SASI_HTTP_PORT must be a number, not {port_text!r}") from exc
        webhook_url = get("TELEGRAM_WEBHOOK_URL")
        webhook_secret = get("TELEGRAM_WEBHOOK_SECRET")
        if webhook_url and not webhook_secret:
            raise ConfigError("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET")
        data_dir = Path(get("SASI_DATA_DIR") or defaults.data_dir)
        quiet_text = get("SASI_QUIET_HOURS") or "20:00-07:00"
        quiet_start, quiet_end = _quiet_hours(quiet_text)
        monitoring_day = _whole_number(
            "SASI_MONITORING_DAY", get("SASI_MONITORING_DAY"), defaults.monitoring_day
        )
        if not 1 <= monitoring_day <= MAX_MONITORING_DAY:
            raise ConfigError(
                f"SASI_MONITORING_DAY must be between 1 and {MAX_MONITORING_DAY} "
                f"(the N-th working day of the month), not {monitoring_day}"
            )
        monitoring_text = get("SASI_MONITORING_HOUR") or "09:00"
        monitoring_time = _clock("SASI_MONITORING_HOUR", monitoring_text)
        if _is_quiet(monitoring_time, quiet_start, quiet_end):
            raise ConfigError(
                f"SASI_MONITORING_HOUR {monitoring_text} falls in the quiet hours "
                f"(SASI_QUIET_HOURS {quiet_text})"
            )
        digest_text = get("SASI_DIGEST_AT") or "mon 07:30"
        digest_weekday, digest_time = _weekly("SASI_DIGEST_AT", digest_text)
        if _is_quiet(digest_time, quiet_start, quiet_end):
            raise ConfigError(
                f"SASI_DIGEST_AT {digest_text} falls in the quiet hours "
                f"(SASI_QUIET_HOURS {quiet_text})"
            )
        push_url = get("SASI_BAPPEDA_PUSH_URL")
        push_secret = get("SASI_BAPPEDA_PUSH_SECRET")
        if push_url and not push_secret:
            raise ConfigError("SASI_BAPPEDA_PUSH_URL needs SASI_BAPPEDA_PUSH_SECRET")
        return cls(
            database_url=get("SASI_DATABASE_URL") or defaults.database_url,
            data_dir=data_dir,
            timezone=timezone,
            locale=locale,
            attachments_dir=Path(get("SASI_ATTACHMENTS_DIR") or data_dir / "attachments"),
            telegram_bot_token=get("TELEGRAM_BOT_TOKEN"),
            telegram_api_base_url=_bot_api_root(get("TELEGRAM_API_BASE_URL")),
            telegram_webhook_url=webhook_url,
            telegram_webhook_secret=webhook_secret,
            whatsapp_token=get("WHATSAPP_TOKEN"),
            whatsapp_phone_number_id=get("WHATSAPP_PHONE_NUMBER_ID"),
            whatsapp_app_secret=get("WHATSAPP_APP_SECRET"),
            whatsapp_verify_token=get("WHATSAPP_VERIFY_TOKEN"),
            whatsapp_api_base_url=(
                get("WHATSAPP_API_BASE_URL") or defaults.whatsapp_api_base_url
            ).rstrip("/"),
            http_host=get("SASI_HTTP_HOST") or defaults.http_host,
            http_port=port,
            bappeda_push_url=push_url,
            bappeda_push_secret=push_secret,
            digest_weekday=digest_weekday,
            digest_time=digest_time,
            bappeda_chats=_chats(get("SASI_BAPPEDA_CHATS")),
            pemda_name=get("SASI_PEMDA_NAME"),
            public_url=_public_url(get("SASI_PUBLIC_URL"), port),
            dashboard_secret=get("SASI_DASHBOARD_SECRET"),
            quiet_start=quiet_start,
            quiet_end=quiet_end,
            monitoring_day=monitoring_day,
            monitoring_time=monitoring_time,
            reminder_days=_reminder_days(get("SASI_REMINDER_DAYS")),
            follow_up_days=_whole_number(
                "SASI_FOLLOW_UP_DAYS", get("SASI_FOLLOW_UP_DAYS"), defaults.follow_up_days
            ),
            escalation_days=_whole_number(
                "SASI_ESCALATION_DAYS", get("SASI_ESCALATION_DAYS"), defaults.escalation_days
            ),
            retention_days=_whole_number(
                "SASI_RETENTION_DAYS", get("SASI_RETENTION_DAYS"), defaults.retention_days
            ),
            telegram_per_second=_rate(
                "TELEGRAM_MESSAGES_PER_SECOND",
                get("TELEGRAM_MESSAGES_PER_SECOND"),
                defaults.telegram_per_second,
            ),
            whatsapp_per_second=_rate(
                "WHATSAPP_MESSAGES_PER_SECOND",
                get("WHATSAPP_MESSAGES_PER_SECOND"),
                defaults.whatsapp_per_second,
            ),
            telegram_document_limit=_megabytes(
                "SASI_TELEGRAM_DOCUMENT_MB",
                get("SASI_TELEGRAM_DOCUMENT_MB"),
                defaults.telegram_document_limit,
            ),
            whatsapp_document_limit=_megabytes(
                "SASI_WHATSAPP_DOCUMENT_MB",
                get("SASI_WHATSAPP_DOCUMENT_MB"),
                defaults.whatsapp_document_limit,
            ),
            generated_files_hours=_hours(
                "SASI_GENERATED_FILES_HOURS",
                get("SASI_GENERATED_FILES_HOURS"),
                defaults.generated_files_hours,
            ),
            push_alert_hours=_hours(
                "SASI_PUSH_ALERT_HOURS", get("SASI_PUSH_ALERT_HOURS"), defaults.push_alert_hours
            ),
        )


def _megabytes(name: str, text: str | None, default: int) -> int:
    """A size in MB (decimals allowed) as bytes."""
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of megabytes, not {text!r}") from exc
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0, not {text}")
    return int(value * 1024 * 1024)


def _hours(name: str, text: str | None, default: int) -> int:
    return _whole_number(name, text, default, unit="hours")


def _public_url(text: str | None, port: int) -> str:
    """SASI_PUBLIC_URL without its trailing slash; by default this machine's port."""
    if text is None:
        return f"http://localhost:{port}"
    if not re.match(r"https?://[^/\s]+", text):
        raise ConfigError(f"SASI_PUBLIC_URL needs an http(s) address, not {text!r}")
    return text.rstrip("/")


def _clock(name: str, text: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f"{name} needs a time such as 09:00, not {text!r}")
    return time(int(match[1]), int(match[2]))


def _weekly(name: str, text: str) -> tuple[int, time]:
    """``mon 07:30`` / ``senin 07.30`` → (0, 07:30)."""
    parts = text.strip().lower().split()
    if len(parts) != 2 or parts[0] not in WEEKDAYS:
        raise ConfigError(f"{name} needs a day and a time such as 'mon 07:30', not {text!r}")
    return WEEKDAYS[parts[0]], _clock(name, parts[1])


def _chats(text: str | None) -> tuple[tuple[str, str], ...]:
    """``telegram:-1001234,whatsapp:62812...`` → ((channel, id), ...), each once."""
    found: list[tuple[str, str]] = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        channel, _, chat = part.strip().partition(":")
        channel, chat = channel.strip().lower(), chat.strip()
        if channel not in CHAT_CHANNELS or not chat:
            raise ConfigError(
                "SASI_BAPPEDA_CHATS needs entries such as telegram:-1001234567 or "
                f"whatsapp:6281234567890, not {part.strip()!r}"
            )
        if (channel, chat) not in found:
            found.append((channel, chat))
    return tuple(found)


def _quiet_hours(text: str) -> tuple[time, time]:
    """``20:00-07:00`` → (20:00, 07:00); equal ends (``00:00-00:00``) mean no quiet hours."""
    parts = re.split(r"\s*[-–]\s*", text.strip())
    if len(parts) != 2:
        raise ConfigError(f"SASI_QUIET_HOURS needs a range such as 20:00-07:00, not {text!r}")
    return _clock("SASI_QUIET_HOURS", parts[0]), _clock("SASI_QUIET_HOURS", parts[1])


def _is_quiet(moment: time, start: time, end: time) -> bool:
    # WorkingTime.is_quiet's rule, repeated: settings stay free of the database layer.
    if start == end:
        return False
    if start > end:
        return moment >= start or moment < end
    return start <= moment < end


def _whole_number(name: str, text: str | None, default: int, unit: str = "days") -> int:
    """A count of ``unit`` (at least 1)."""
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number of {unit}, not {text!r}") from exc
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}")
    return value


def _rate(name: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number of messages, not {text!r}") from exc
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, not {value}")
    return value


def _reminder_days(text: str | None) -> tuple[int, ...]:
    """``7,3,1``: working days before a deadline, largest first, each once."""
    if text is None:
        return Settings.reminder_days
    days: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        days.add(_whole_number("SASI_REMINDER_DAYS", part.strip(), 1))
    if not days:
        raise ConfigError(f"SASI_REMINDER_DAYS needs days such as 7,3,1, not {text!r}")
    return tuple(sorted(days, reverse=True))
