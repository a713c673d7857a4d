"""Settings come from an injectable environment, with DESIGN.md's names and defaults."""

from __future__ import annotations

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
