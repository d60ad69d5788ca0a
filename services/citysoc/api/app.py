"""The API application: the shared HTTP shell plus the domain routers, each its own package with
models, service and router: ClickHouse-backed (alerts, events, monitoring) and database-backed
(agencies, systems, users/tokens/roles, alert groups, audit; incidents and reports join later)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI, Request, Response

from citysoc.api.access import deps as access
from citysoc.api.agencies.router import router as agencies_router
from citysoc.api.alerts.router import router as alerts_router
from citysoc.api.audit.router import router as audit_router
from citysoc.api.events.router import router as events_router
from citysoc.api.groups.router import router as groups_router
from citysoc.api.hunts.router import router as hunts_router
from citysoc.api.incidents.clock import refresh_gauges
from citysoc.api.incidents.router import router as incidents_router
from citysoc.api.incidents.work_router import router as incident_work_router
from citysoc.api.incidents.work_router import tasks_router
from citysoc.api.monitoring.router import router as monitoring_router
from citysoc.api.reports.router import incident_reports
from citysoc.api.reports.router import router as reports_router
from citysoc.api.suppressions.router import router as suppressions_router
from citysoc.api.systems.router import router as systems_router
from citysoc.api.users.router import router as users_router
from citysoc.api.views.router import router as saved_views_router
from citysoc.core.config import Settings
from citysoc.db import Database
from citysoc.store.base import Store
from citysoc.web.app import create_app
from citysoc.web.console.router import router as console_router

log = logging.getLogger("citysoc.api")


def create_api(
    settings: Settings, store: Store, mode: Literal["embedded", "api"] = "api", db: Database | None = None
) -> FastAPI:
    """``db`` defaults to ``settings.database_url``. The roles migrate it before serving (uvicorn runs
    them without lifespan); under a lifespan-running server the app migrates it at start itself and
    closes its connections at the end."""
    database = db if db is not None else Database(settings.database_url, echo=settings.database.echo)

    async def health() -> dict[str, Any]:
        try:
            ok = await asyncio.wait_for(asyncio.to_thread(store.ping), 5)
        except Exception:
            ok = False
        try:
            db_ok = await asyncio.wait_for(database.ping(), 5)
        except Exception:
            db_ok = False
        return {"store": ok, "database": db_ok, "mode": mode}

    app = create_app("citysoc", settings, health, store=store)
    access.install(app, database)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await database.upgrade()
        yield
        await database.dispose()

    app.router.lifespan_context = lifespan
    app.include_router(alerts_router)
    app.include_router(events_router)
    app.include_router(monitoring_router)
    app.include_router(hunts_router)
    for router in (agencies_router, systems_router, users_router, groups_router, audit_router):
        app.include_router(router)
    for router in (incidents_router, incident_work_router, tasks_router, incident_reports, reports_router):
        app.include_router(router)
    app.include_router(suppressions_router)
    app.include_router(saved_views_router)

    @app.middleware("http")
    async def _incident_gauges(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The statutory clock gauges are database counts: refreshed on each scrape, not kept live.
        if request.url.path == "/metrics":
            try:
                await asyncio.wait_for(refresh_gauges(database, datetime.now(UTC)), 5)
            except Exception as e:
                log.warning("incident report gauges not refreshed: %s: %s", type(e).__name__, e)
        return await call_next(request)

    app.include_router(console_router)  # the web console's pages under / (after /api/v1: no overlap)
    return app
