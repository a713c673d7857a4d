"""Charts and export files written for delivery go away once their retention passed: the
scheduler's hourly housekeeping removes them, and keeps the recent ones a retried send needs."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from bot.app import Core
from bot.export_delivery import remove_generated_files
from reports.chart import default_chart_dir


def _file(path: Path, age_hours: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 100)
    moment = time.time() - age_hours * 3600
    os.utime(path, (moment, moment))
    if path.parent.name.isdigit():  # an export's own folder ages with its files
        os.utime(path.parent, (moment, moment))
    return path


async def test_the_scheduler_removes_old_charts_and_exports(core: Core) -> None:
    data = core.settings.data_dir
    assert core.settings.generated_files_hours == 24
    old_chart = _file(data / "charts" / "rekap-old.png", 25)
    new_chart = _file(data / "charts" / "rekap-new.png", 1)
    old_export = _file(data / "exports" / "7" / "direktori-inovasi.xlsx", 30)
    new_export = _file(data / "exports" / "8" / "direktori-inovasi.csv", 2)
    # /rekap's charts, in the system's temporary folder.
    old_rekap = _file(default_chart_dir() / f"rekap-test-{uuid.uuid4().hex}.png", 48)

    await core.scheduler.tick()

    assert not old_chart.exists() and not old_export.exists() and not old_export.parent.exists()
    assert not old_rekap.exists()
    assert new_chart.exists() and new_export.exists()


def test_the_retention_is_configurable(tmp_path: Path) -> None:
    from bot.config import Settings

    kept = _file(tmp_path / "charts" / "a.png", 3)
    gone = _file(tmp_path / "charts" / "b.png", 5)
    assert remove_generated_files(tmp_path, 4) == 1
    assert kept.exists() and not gone.exists()
    assert Settings.from_env({"SASI_GENERATED_FILES_HOURS": "4"}, dotenv_path=None)\
        .generated_files_hours == 4  # fmt: skip
    assert remove_generated_files(tmp_path / "missing", 4) == 0
