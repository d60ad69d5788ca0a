"""The console router: one ``include_router`` in ``citysoc.api.app`` serves every console page."""

from __future__ import annotations

from fastapi import APIRouter

from citysoc.web.console import (
    views_alerts,
    views_auth,
    views_flat,
    views_incident_links,
    views_incidents,
    views_registry,
    views_saved,
    views_suppressions,
    views_work,
)

router = APIRouter(include_in_schema=False)
for part in (
    views_auth.router,
    views_alerts.router,
    views_flat.router,
    views_saved.router,
    views_incidents.router,
    views_incident_links.router,
    views_work.router,
    views_registry.router,
    views_suppressions.router,
):
    router.include_router(part)
