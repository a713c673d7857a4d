"""The dashboard in a real browser (headless Chromium through Selenium and Debian's
chromium-driver): a link obtained through the Telegram fake, the seeded numbers, a filter,
an idea, a monitoring report arriving while the page is open, sign-out, no console errors.

Screenshots (laptop and phone widths) are written to build/screenshots/. Without Chromium the
test is skipped with a loud reason (``.ci/run`` installs it: apt-get install chromium
chromium-driver).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.web import build_web_app, start_web_app
from storage.audit import CLI
from storage.models import Idea, IdeaStatus, Opd, Role, Stage, User
from storage.roles import grant
from tests.chat import ID
from tests.fakes.telegram_api import free_port, telegram_rig
from tests.test_telegram_e2e import Person
from tests.test_telegram_e2e import demo_core as telegram_core

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"  # not tracked: a run must not change the checkout
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NO_BROWSER = (
    "NO BROWSER: the dashboard's browser test did NOT run. Install Debian's chromium and "
    "chromium-driver (apt-get install -y chromium chromium-driver; .ci/run does it)"
)
T = TypeVar("T")

pytestmark = pytest.mark.skipif(CHROMIUM is None or not Path(DRIVER).exists(), reason=NO_BROWSER)


@pytest.fixture
def driver() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(DRIVER), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


async def off_loop(work: Callable[[], T]) -> T:
    """Selenium blocks: run it in a thread so the server on this loop keeps answering."""
    return await asyncio.to_thread(work)


async def wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    def settled() -> bool:
        # The live update redraws the figures: an element found a moment ago may be gone
        # (stale) or not drawn yet; either way, look again.
        try:
            return check()
        except (StaleElementReferenceException, NoSuchElementException):
            return False

    async with asyncio.timeout(seconds):
        while not await off_loop(settled):  # noqa: ASYNC110 (the browser has no event to await)
            await asyncio.sleep(0.25)


async def _seed(rig: Any, owner_nip: str) -> dict[str, int]:
    database = rig.core.database
    async with database.writing(), database.sessions() as session, session.begin():
        opds = {o.short_name: o.id for o in await session.scalars(select(Opd))}
        owner = await session.scalar(select(User).where(User.nip == owner_nip))
        assert owner is not None
        ideas = [
            Idea(
                name="SI-JEMPOL <b>Lansia</b>",
                problem="Lansia sulit datang ke kantor",
                idea="Perekaman KTP-el di rumah",
                is_digital=False,
                affair="adminduk",
                opd_id=opds["Disdukcapil"],
                owner_id=owner.id,
                stage=Stage.DELIVER,
                status=IdeaStatus.VERIFIED,
            ),
            Idea(
                name="Posyandu Digital",
                problem="Pencatatan manual",
                idea="Aplikasi kader",
                is_digital=True,
                affair="kesehatan",
                opd_id=opds["Dinkes"],
                stage=Stage.DESIGN,
            ),
            Idea(
                name="Sekolah Ramah Anak",
                problem="Perundungan",
                idea="Konselor sebaya",
                is_digital=False,
                affair="pendidikan",
                opd_id=opds["Disdik"] if "Disdik" in opds else opds["Dinkes"],
                stage=Stage.DIAGNOSE,
            ),
        ]
        session.add_all(ideas)
        await session.flush()
        return {"deliver": ideas[0].id, "design": ideas[1].id, "diagnose": ideas[2].id}


def _console_errors(browser: Any) -> list[dict[str, Any]]:
    return [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]


async def test_sign_in_see_filter_open_watch_live_and_sign_out(
    tmp_path: Path, database_url: str, driver: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with telegram_rig(tmp_path, "polling", telegram_core, database_url=database_url) as rig:
        agus = Person(rig, rig.fake.user(9201, "Agus", language_code="id"))
        await agus.register(name="Agus Wijaya", nip="197905102005011002")
        rina = Person(rig, rig.fake.user(9202, "Rina", language_code="id"))
        await rina.register(name="Rina Marlina", nip="199107082019032012")
        database = rig.core.database
        async with database.writing(), database.sessions() as session, session.begin():
            user = await session.scalar(select(User).where(User.nip == "197905102005011002"))
            assert user is not None
            await grant(session, CLI, user, Role.BAPPEDA, None)
        ideas = await _seed(rig, "199107082019032012")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = replace(rig.settings, public_url=base)
        runner = await start_web_app(
            build_web_app(database, [], settings=settings), "127.0.0.1", port
        )
        try:
            # The link, as Telegram delivered it to Agus.
            await agus.say("/dasbor")
            assert ID("dashboard.link_coming") in agus.text
            await rig.core.sender.send_due("telegram")
            texts = [m.text or "" for m in rig.fake.sent_to(agus.user.id)]
            link = next(
                m[0] for t in texts if (m := re.search(r"https?://\S+/dasbor/masuk\?t=\S+", t))
            )
            url = urlsplit(link)
            await off_loop(lambda: driver.get(f"{base}{url.path}?{url.query}"))

            # The seeded numbers.
            await wait_for(lambda: driver.find_element(By.ID, "kpi-total").is_displayed())
            total = await off_loop(lambda: driver.find_element(By.ID, "kpi-total").text)
            assert total.split()[0] == "3", total
            reported = await off_loop(lambda: driver.find_element(By.ID, "kpi-reported").text)
            assert reported.startswith("0 / 1"), reported
            page = await off_loop(lambda: driver.page_source)
            assert "&lt;b&gt;Lansia&lt;/b&gt;" in page  # escaped, not bold
            await off_loop(
                lambda: driver.save_screenshot(str(SCREENSHOTS / "dashboard-laptop.png"))
            )

            # Sorting the participation table by clicking a heading, with the keyboard too.
            await off_loop(
                lambda: driver.find_element(
                    By.CSS_SELECTOR, "#participation button.sort[data-col='1']"
                ).click()
            )
            assert (
                await off_loop(
                    lambda: driver.find_element(
                        By.CSS_SELECTOR, "#participation th[aria-sort]"
                    ).get_attribute("aria-sort")
                )
                == "ascending"
            )

            # Filter the table, then open an idea.
            await off_loop(lambda: driver.get(f"{base}/dasbor/ide"))
            await off_loop(
                lambda: Select(driver.find_element(By.ID, "f-stage")).select_by_value("deliver")
            )
            await off_loop(lambda: driver.find_element(By.ID, "apply").click())
            await wait_for(lambda: "stage=deliver" in driver.current_url)
            count = await off_loop(lambda: driver.find_element(By.ID, "idea-count").text)
            assert count == ID("dashboard.ideas_found", count="1"), count
            await off_loop(lambda: driver.save_screenshot(str(SCREENSHOTS / "dashboard-ideas.png")))
            await off_loop(
                lambda: driver.find_element(
                    By.CSS_SELECTOR, f"a[href='/dasbor/ide/{ideas['deliver']}']"
                ).click()
            )
            await wait_for(lambda: driver.current_url.endswith(f"/dasbor/ide/{ideas['deliver']}"))
            heading = await off_loop(lambda: driver.find_element(By.TAG_NAME, "h1").text)
            assert heading == "SI-JEMPOL <b>Lansia</b>"

            # Back on the summary, a monitoring report arrives through the chat.
            await off_loop(lambda: driver.get(f"{base}/dasbor/"))
            await wait_for(lambda: driver.find_element(By.ID, "kpi-reported").is_displayed())
            period = f"{datetime.now(ZoneInfo(rig.settings.timezone)):%Y-%m}"
            await rina.say(f"/lapor {ideas['deliver']} {period}")
            assert ID("report.ask_progress") in rina.text, rina.text
            await rina.say("60 persen")
            await rina.say("Perekaman di 25 rumah warga lansia.")
            await rina.press("obstacle:none")
            await rina.press("eviden:done")
            await rina.say("Menambah dua kecamatan.")
            await rina.press("summary:save")
            assert "SI-JEMPOL" in rina.text and "sudah kami terima" in rina.text, rina.text

            await wait_for(
                lambda: driver.find_element(By.ID, "kpi-reported").text.startswith("1 / 1"), 30
            )
            recent = await off_loop(
                lambda: driver.find_element(By.CSS_SELECTOR, "table.recent-reports").text
            )
            assert "SI-JEMPOL" in recent and "60%" in recent
            stamp = await off_loop(lambda: driver.find_element(By.ID, "updated").text)
            assert re.fullmatch(r"\d\d:\d\d:\d\d", stamp)
            await off_loop(
                lambda: driver.save_screenshot(str(SCREENSHOTS / "dashboard-laptop.png"))
            )

            # A phone's width: one column, nothing wider than the screen.
            await off_loop(lambda: driver.set_window_size(390, 844))
            await off_loop(lambda: driver.refresh())
            await wait_for(lambda: driver.find_element(By.ID, "kpi-total").is_displayed())
            overflow = await off_loop(
                lambda: driver.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth"
                )
            )
            width = await off_loop(lambda: driver.execute_script("return window.innerWidth"))
            assert width <= 400, width
            assert overflow <= 0, f"the page is {overflow}px wider than a phone"
            await off_loop(lambda: driver.save_screenshot(str(SCREENSHOTS / "dashboard-phone.png")))

            # Sign out: the session ends, the page says so, no console errors on the way.
            await off_loop(lambda: driver.find_element(By.ID, "sign-out").click())
            await wait_for(lambda: ID("dashboard.signed_out") in driver.page_source)
            await off_loop(lambda: driver.get(f"{base}/dasbor/"))
            assert ID("dashboard.no_session") in await off_loop(lambda: driver.page_source)
            errors = await off_loop(lambda: _console_errors(driver))
            # The last page is a deliberate 401, which Chromium logs as a failed resource.
            assert [e for e in errors if "401" not in e.get("message", "")] == [], errors
        finally:
            await runner.cleanup()
