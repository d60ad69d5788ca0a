"""The API application: the shared HTTP shell plus the domain routers (alerts now; registry,
incidents and reports join later, each as its own package with models, service and router)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import FastAPI

from citysoc.api.alerts.router import router as alerts_router
from citysoc.api.events.router import router as events_router
from citysoc.api.monitoring.router import router as monitoring_router
from citysoc.core.config import Settings
from citysoc.store.base import Store
from citysoc.web.app import create_app


def create_api(settings: Settings, store: Store, mode: Literal["embedded", "api"] = "api") -> FastAPI:
    async def health() -> dict[str, Any]:
        try:
            ok = await asyncio.wait_for(asyncio.to_thread(store.ping), 5)
        except Exception:
            ok = False
        return {"store": ok, "mode": mode}

    app = create_app("citysoc", settings, health, store=store)
    app.include_router(alerts_router)
    app.include_router(events_router)
    app.include_router(monitoring_router)
    return app
