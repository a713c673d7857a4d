"""The dashboard's routes on SASI's aiohttp server: sign-in by one-time link, a session
cookie, the pages, the live JSON and the exports.

Every request but the sign-in and the static files needs a live session, and the person's
roles are read again each time: a coordinator whose role was revoked loses the page at the
next request, and the scope (handlers/access.visible_opds) is applied to every query.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.dashboard import render
from bot.dashboard.data import SummaryCache, idea_file, idea_page, opd_choices
from handlers.access import Access, is_allowed, load_roles, visible_opds
from handlers.i18n import LOCALES, Translator
from handlers.idea_fields import AFFAIRS
from reports.export import Format, export_ideas, inventory_path
from storage.audit import EXPORT_ACTION, SYSTEM, Actor, export_audit, record
from storage.dashboard_access import (
    LinkRefusal,
    csrf_token,
    find_session,
    open_session,
    revoke_session,
    signing_secret,
    use_link,
)
from storage.db import Database
from storage.idea_filter import IdeaFilter, describe_filter
from storage.models import DashboardSession, IdeaStatus, Stage, User

log = logging.getLogger(__name__)

COOKIE = "sasi_dasbor"
LANG_COOKIE = "sasi_bahasa"
STATIC_DIR = Path(__file__).parent / "static"
END_OF_DAY = time(23, 59)
MAX_TOKEN = 200


@dataclass
class Dashboard:
    database: Database
    settings: Settings
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    cache: SummaryCache | None = None
    _secret: bytes | None = None

    async def secret(self, session: AsyncSession) -> bytes:
        if self._secret is None:
            self._secret = await signing_secret(session, self.settings.dashboard_secret)
        return self._secret


DASHBOARD_KEY = web.AppKey("dashboard", Dashboard)


@dataclass(frozen=True)
class Viewer:
    user: User
    session: DashboardSession
    scope: frozenset[int] | None
    t: Translator
    csrf: str


def mount(app: web.Application, database: Database, settings: Settings, **kw: Any) -> Dashboard:
    dashboard = Dashboard(database, settings, cache=SummaryCache(database), **kw)
    app[DASHBOARD_KEY] = dashboard

    async def stop_recomputing(_app: web.Application) -> None:
        assert dashboard.cache is not None
        await dashboard.cache.close()

    app.on_cleanup.append(stop_recomputing)
    r = app.router
    r.add_get("/dasbor", _to_summary)
    r.add_get("/dashboard", _to_summary)
    r.add_get("/dashboard/", _to_summary)
    r.add_get("/dasbor/masuk", sign_in)
    r.add_post("/dasbor/keluar", sign_out)
    r.add_get("/dasbor/", summary_page)
    r.add_get("/dasbor/ide", ideas_page)
    r.add_get("/dasbor/ide/{idea_id}", idea_detail)
    r.add_get("/dasbor/api/summary", summary_api)
    r.add_get("/dasbor/api/ideas", ideas_api)
    r.add_get("/dasbor/ekspor", export)
    r.add_static("/dasbor/static", STATIC_DIR, append_version=False)
    return dashboard


# -- helpers -------------------------------------------------------------------------------


def _translator(request: web.Request, fallback: str | None) -> Translator:
    wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE) or fallback
    return Translator(wanted if wanted in LOCALES else request.app[DASHBOARD_KEY].settings.locale)


def _remember_language(request: web.Request, response: web.StreamResponse) -> None:
    lang = request.query.get("lang")
    if lang in LOCALES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Lax", httponly=True
        )


def _html(
    request: web.Request, body: str, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    response = web.Response(
        text=body, status=status, content_type="text/html", charset="utf-8", headers=headers
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    _remember_language(request, response)
    return response


def _message(request: web.Request, status: int, title_key: str, text_key: str) -> web.Response:
    t = _translator(request, None)
    return _html(request, render.message_page(t, t(title_key), t(text_key)), status)


def _secure(request: web.Request, settings: Settings) -> bool:
    return request.secure or settings.public_url.startswith("https://")


async def _viewer(request: web.Request) -> Viewer | web.Response:
    """Who is asking, with their scope of the moment; or the page that refuses them."""
    dashboard = request.app[DASHBOARD_KEY]
    api = request.path.startswith("/dasbor/api/")
    cookie = request.cookies.get(COOKIE)
    now = dashboard.clock()
    async with dashboard.database.sessions() as session:
        live = await find_session(session, cookie, now) if cookie else None
        user = await session.get(User, live.user_id) if live is not None else None
        if user is not None:
            await load_roles(session, user)
        secret = await dashboard.secret(session) if live is not None else b""
    if live is None or user is None:
        if api:
            return web.json_response({"error": "no session"}, status=401)
        return _message(request, 401, "dashboard.signed_out_title", "dashboard.no_session")
    if not is_allowed(user, Access.COORDINATOR):
        if api:
            return web.json_response({"error": "no access"}, status=403)
        return _message(request, 403, "dashboard.refused_title", "dashboard.no_role")
    t = _translator(request, user.locale)
    return Viewer(user, live, visible_opds(user), t, csrf_token(secret, live.session_hash))


def _not_found(request: web.Request, viewer: Viewer) -> web.Response:
    t = viewer.t
    body = render.page(
        t,
        title=t("dashboard.not_found_title"),
        body=f'<p class="notice">{render.e(t("dashboard.not_found"))}</p>',
        viewer=viewer.user.full_name,
        csrf=viewer.csrf,
        path=request.path,
    )
    return _html(request, body, 404)


def _local(settings: Settings, now: datetime) -> datetime:
    return now.astimezone(settings.tz)


def _wanted(request: web.Request, viewer: Viewer) -> IdeaFilter | None:
    """The filter the query asks for; None when it names an OPD outside the viewer's scope."""
    q = request.query
    opd_ids: frozenset[int] = frozenset()
    if q.get("opd"):
        try:
            opd = int(q["opd"])
        except ValueError:
            return None
        if viewer.scope is not None and opd not in viewer.scope:
            return None
        opd_ids = frozenset({opd})
    stage = next((s for s in Stage if s.value == q.get("stage")), None)
    status = next((s for s in IdeaStatus if s.value == q.get("status")), None)
    digital = {"yes": True, "no": False}.get(q.get("digital", ""))
    affair = q.get("affair") if q.get("affair") in AFFAIRS else None
    text = (q.get("q") or "").strip()[:200] or None
    return IdeaFilter(opd_ids, stage, status, digital, affair, text)


def _page_number(request: web.Request) -> int:
    try:
        return max(1, int(request.query.get("page", "1")))
    except ValueError:
        return 1


# -- sign-in and sign-out ------------------------------------------------------------------


async def _to_summary(request: web.Request) -> web.Response:
    raise web.HTTPFound("/dasbor/")


async def sign_in(request: web.Request) -> web.Response:
    dashboard = request.app[DASHBOARD_KEY]
    token = request.query.get("t", "")[:MAX_TOKEN]
    now = dashboard.clock()
    refusal: str | None = None
    cookie: str | None = None
    async with (
        dashboard.database.writing(),
        dashboard.database.sessions() as session,
        session.begin(),
    ):
        secret = await dashboard.secret(session)
        used = await use_link(session, secret, token, now)
        user = await session.get(User, used.user_id) if used.user_id is not None else None
        if used.refusal is not None:
            refusal = used.refusal.value
        elif user is None:
            refusal = LinkRefusal.FORGED.value
        else:
            await load_roles(session, user)
            if not is_allowed(user, Access.COORDINATOR):
                refusal = "no_role"
        actor = Actor.of(user) if user is not None else SYSTEM
        subject = f"user:{user.id}" if user is not None else "dashboard"
        if refusal is not None:
            record(
                session,
                actor,
                "dashboard.sign_in_failed",
                subject,
                after={"reason": refusal, "ip": request.remote or ""},
                at=now,
            )
        else:
            assert user is not None
            local = _local(dashboard.settings, now)
            ends = datetime.combine(local.date(), END_OF_DAY, local.tzinfo)
            if ends - now < timedelta(hours=1):
                ends = now + timedelta(hours=9)  # signing in late in the evening
            cookie = await open_session(session, user.id, now, ends)
            record(
                session,
                actor,
                "dashboard.sign_in",
                subject,
                after={"ip": request.remote or ""},
                at=now,
            )
    if refusal is not None:
        status, key = {
            "forged": (403, "dashboard.link_forged"),
            "reused": (410, "dashboard.link_reused"),
            "expired": (410, "dashboard.link_expired"),
            "no_role": (403, "dashboard.no_role"),
        }[refusal]
        return _message(request, status, "dashboard.refused_title", key)
    assert cookie is not None
    response = web.HTTPFound("/dasbor/")
    response.set_cookie(
        COOKIE,
        cookie,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=_secure(request, dashboard.settings),
        max_age=int(timedelta(hours=9).total_seconds()),
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    raise response


async def sign_out(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    form = await request.post()
    if form.get("csrf") != viewer.csrf:
        return _message(request, 403, "dashboard.refused_title", "dashboard.bad_form")
    dashboard = request.app[DASHBOARD_KEY]
    now = dashboard.clock()
    async with (
        dashboard.database.writing(),
        dashboard.database.sessions() as session,
        session.begin(),
    ):
        await revoke_session(session, viewer.session.id, now)
        record(
            session, Actor.of(viewer.user), "dashboard.sign_out", f"user:{viewer.user.id}", at=now
        )
    t = viewer.t
    response = _html(
        request,
        render.message_page(t, t("dashboard.signed_out_title"), t("dashboard.signed_out")),
    )
    response.del_cookie(COOKIE, path="/")
    return response


# -- pages ---------------------------------------------------------------------------------


async def _summary(dashboard: Dashboard, viewer: Viewer) -> tuple[Any, str]:
    now = dashboard.clock()
    local = _local(dashboard.settings, now)
    assert dashboard.cache is not None
    summary = await dashboard.cache.get(viewer.scope, now, local.date())
    # "Last updated": when these figures were computed, not when they were asked for.
    return summary, render.clock(summary.computed_at, dashboard.settings.tz)


async def summary_page(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    dashboard = request.app[DASHBOARD_KEY]
    summary, updated = await _summary(dashboard, viewer)
    t = viewer.t
    body = render.page(
        t,
        title=t("dashboard.summary_title"),
        body=render.summary_body(t, summary, updated),
        viewer=viewer.user.full_name,
        csrf=viewer.csrf,
        path="/dasbor/",
    )
    return _html(request, body)


async def summary_api(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    dashboard = request.app[DASHBOARD_KEY]
    summary, updated = await _summary(dashboard, viewer)
    f = summary.figures
    data: dict[str, Any] = {
        "version": summary.version,
        "updated": updated,
        "total_ideas": f.total_ideas,
        "new_ideas": f.new_ideas,
        "stages": {s.value: n for s, n in f.stage_counts().items()},
        "opds": len(f.opds),
        "opds_without_ideas": len(f.opds_without_ideas),
        "monitoring": {
            "period": f.monitoring.period,
            "due": f.monitoring.due,
            "reported": f.monitoring.reported,
            "overdue": f.monitoring.overdue_count,
        },
        "recent_reports": [r.idea_id for r in summary.recent_reports],
    }
    if request.query.get("v") != summary.version:
        # The page already holds this version's fragments: send them only when they changed.
        data["html"] = render.summary_sections(viewer.t, summary)
    response = web.json_response(data)
    response.headers["Cache-Control"] = "no-store"
    return response


async def ideas_page(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    wanted = _wanted(request, viewer)
    if wanted is None:
        return _not_found(request, viewer)
    dashboard = request.app[DASHBOARD_KEY]
    async with dashboard.database.sessions() as session:
        result = await idea_page(session, viewer.scope, wanted, _page_number(request))
        opds = await opd_choices(session, viewer.scope)
    t = viewer.t
    body = render.page(
        t,
        title=t("dashboard.ideas_title"),
        body=render.ideas_body(t, result, wanted, opds),
        viewer=viewer.user.full_name,
        csrf=viewer.csrf,
        path="/dasbor/ide",
        query=render.filter_query(wanted),
    )
    return _html(request, body)


async def ideas_api(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    wanted = _wanted(request, viewer)
    if wanted is None:
        return web.json_response({"error": "not found"}, status=404)
    dashboard = request.app[DASHBOARD_KEY]
    async with dashboard.database.sessions() as session:
        result = await idea_page(session, viewer.scope, wanted, _page_number(request))
    return web.json_response(
        {
            "total": result.total,
            "page": result.page,
            "pages": result.pages,
            "ideas": [
                {
                    "id": r.id,
                    "name": r.name,
                    "opd": r.opd,
                    "stage": r.stage.value,
                    "status": r.status.value,
                    "is_digital": r.is_digital,
                    "affair": r.affair,
                }
                for r in result.rows
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


async def idea_detail(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    try:
        idea_id = int(request.match_info["idea_id"])
    except ValueError:
        return _not_found(request, viewer)
    dashboard = request.app[DASHBOARD_KEY]
    async with dashboard.database.sessions() as session:
        found = await idea_file(session, viewer.scope, idea_id)
    if found is None:
        return _not_found(request, viewer)
    t = viewer.t
    body = render.page(
        t,
        title=found.idea.name,
        body=render.idea_body(t, found, dashboard.settings.tz),
        viewer=viewer.user.full_name,
        csrf=viewer.csrf,
        path=request.path,
    )
    return _html(request, body)


async def export(request: web.Request) -> web.Response:
    """The /ekspor file (reports/export.py) for what the table shows."""
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    wanted = _wanted(request, viewer)
    fmt: Format
    if request.query.get("format") == "xlsx":
        fmt = "xlsx"
    elif request.query.get("format") == "csv":
        fmt = "csv"
    else:
        return _not_found(request, viewer)
    if wanted is None:
        return _not_found(request, viewer)
    dashboard = request.app[DASHBOARD_KEY]
    local = _local(dashboard.settings, dashboard.clock())
    stem = f"direktori-inovasi-{local:%Y%m%d-%H%M}"
    eviden = fmt == "csv" and request.query.get("part") == "eviden"
    with tempfile.TemporaryDirectory(prefix="sasi-dasbor-") as folder:
        path = Path(folder) / f"{stem}.{fmt}"
        async with dashboard.database.sessions() as session:
            result = await export_ideas(
                session,
                path,
                fmt,
                scope=viewer.scope,
                wanted=wanted,
                locale=viewer.t.locale,
                timezone=dashboard.settings.tz,
            )
        chosen = inventory_path(path) if eviden else path
        async with (
            dashboard.database.writing(),
            dashboard.database.sessions() as session,
            session.begin(),
        ):
            record(
                session,
                Actor.of(viewer.user),
                EXPORT_ACTION,
                f"user:{viewer.user.id}",
                after=export_audit(
                    "dashboard",
                    fmt,
                    viewer.scope,
                    result.ideas,
                    describe_filter(wanted),
                    part="eviden" if eviden else "ideas" if fmt == "csv" else None,
                ),
                at=dashboard.clock(),
            )

        body = await asyncio.to_thread(chosen.read_bytes)
    content_type = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if fmt == "xlsx"
        else "text/csv"
    )
    return web.Response(
        body=body,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{chosen.name}"',
            "Cache-Control": "no-store",
        },
    )
