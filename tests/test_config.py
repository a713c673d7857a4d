"""Settings come from an injectable environment, with DESIGN.md's names and defaults."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings


def test_defaults_with_an_empty_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=tmp_path / "none.env")
    assert settings.database_url == "sqlite+aiosqlite:///sasi.db"
    assert settings.timezone == "Asia/Jakarta"
    assert settings.locale == "id"
    assert (settings.http_host, settings.http_port) == ("0.0.0.0", 8080)
    assert not settings.telegram_enabled and not settings.whatsapp_enabled


def test_values_are_read_and_the_environment_beats_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SASI_TIMEZONE=Asia/Makassar\nTELEGRAM_BOT_TOKEN=from-file\n")
    settings = Settings.from_env(
        {"TELEGRAM_BOT_TOKEN": "from-env", "SASI_HTTP_PORT": "9000", "SASI_LOCALE": "en"},
        dotenv_path=env_file,
    )
    assert settings.timezone == "Asia/Makassar"
    assert settings.telegram_bot_token == "from-env"
    assert settings.http_port == 9000 and settings.locale == "en"
    assert settings.telegram_enabled


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SASI_TIMEZONE": "Mars/Olympus"}, "SASI_TIMEZONE"),
        ({"SASI_LOCALE": "fr"}, "SASI_LOCALE"),
        ({"SASI_HTTP_PORT": "eighty"}, "SASI_HTTP_PORT"),
        ({"TELEGRAM_WEBHOOK_URL": "https://x/y"}, "TELEGRAM_WEBHOOK_SECRET"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env, dotenv_path=tmp_path / "none.env")


def test_the_data_folder_holds_attachments_and_caches(tmp_path: Path) -> None:
    settings = Settings.from_env({"SASI_DATA_DIR": "/srv/sasi"}, dotenv_path=tmp_path / "x")
    assert settings.attachments_dir == Path("/srv/sasi/attachments")
    assert settings.stem_cache.parent == Path("/srv/sasi/cache")
    own = Settings.from_env(
        {"SASI_DATA_DIR": "/srv/sasi", "SASI_ATTACHMENTS_DIR": "/mnt/eviden"},
        dotenv_path=tmp_path / "x",
    )
    assert own.attachments_dir == Path("/mnt/eviden")


def test_calendar_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({}, dotenv_path=tmp_path / "none.env")
    assert (settings.quiet_start, settings.quiet_end) == (time(20, 0), time(7, 0))
    assert settings.monitoring_day == 1 and settings.monitoring_time == time(9, 0)
    assert settings.reminder_days == (7, 3, 1)
    assert (settings.follow_up_days, settings.escalation_days) == (3, 7)
    assert settings.retention_days == 90


def test_calendar_values_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "SASI_QUIET_HOURS": "21:30 – 6:00",
            "SASI_MONITORING_DAY": "3",
            "SASI_MONITORING_HOUR": "10.15",
            "SASI_REMINDER_DAYS": "1, 5,10,5",
            "SASI_FOLLOW_UP_DAYS": "2",
            "SASI_ESCALATION_DAYS": "5",
            "SASI_RETENTION_DAYS": "30",
        },
        dotenv_path=tmp_path / "none.env",
    )
    assert (settings.quiet_start, settings.quiet_end) == (time(21, 30), time(6, 0))
    assert settings.monitoring_day == 3 and settings.monitoring_time == time(10, 15)
    assert settings.reminder_days == (10, 5, 1)
    assert (settings.follow_up_days, settings.escalation_days) == (2, 5)
    assert settings.retention_days == 30


def test_equal_ends_mean_no_quiet_hours(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"SASI_QUIET_HOURS": "00:00-00:00", "SASI_MONITORING_HOUR": "23:00"},
        dotenv_path=tmp_path / "none.env",
    )
    assert settings.quiet_start == settings.quiet_end


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SASI_QUIET_HOURS": "20:00"}, "SASI_QUIET_HOURS"),
        ({"SASI_QUIET_HOURS": "25:00-07:00"}, "SASI_QUIET_HOURS"),
        ({"SASI_QUIET_HOURS": "malam"}, "SASI_QUIET_HOURS"),
        ({"SASI_MONITORING_DAY": "0"}, "SASI_MONITORING_DAY"),
        ({"SASI_MONITORING_DAY": "31"}, "SASI_MONITORING_DAY"),
        ({"SASI_MONITORING_DAY": "first"}, "SASI_MONITORING_DAY"),
        ({"SASI_MONITORING_HOUR": "9am"}, "SASI_MONITORING_HOUR"),
        ({"SASI_MONITORING_HOUR": "21:00"}, "SASI_MONITORING_HOUR .* quiet hours"),
        ({"SASI_REMINDER_DAYS": "7,three"}, "SASI_REMINDER_DAYS"),
        ({"SASI_REMINDER_DAYS": "7,0"}, "SASI_REMINDER_DAYS"),
        ({"SASI_REMINDER_DAYS": ","}, "SASI_REMINDER_DAYS"),
        ({"SASI_FOLLOW_UP_DAYS": "-1"}, "SASI_FOLLOW_UP_DAYS"),
        ({"SASI_ESCALATION_DAYS": "a week"}, "SASI_ESCALATION_DAYS"),
        ({"SASI_RETENTION_DAYS": "0"}, "SASI_RETENTION_DAYS"),
    ],
)
def test_bad_calendar_values_name_the_variable(
    env: dict[str, str], names: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env(env, dotenv_path=tmp_path / "none.env")


@pytest.mark.parametrize(
    "given",
    [
        "http://127.0.0.1:8081",
        "http://127.0.0.1:8081/",
        "http://127.0.0.1:8081/bot",  # python-telegram-bot's documented form (issue 12.7)
        "http://127.0.0.1:8081/bot/",
    ],
)
def test_the_bot_api_base_url_is_read_as_the_server_root(given: str, tmp_path: Path) -> None:
    settings = Settings.from_env({"TELEGRAM_API_BASE_URL": given}, dotenv_path=tmp_path / "none")
    # The channel appends /bot<token> and /file/bot<token> to this root.
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081"
