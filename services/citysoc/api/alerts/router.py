"""``/api/v1/alerts``: list (filter, cursor pagination) and fetch alerts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from citysoc.api.alerts import service
from citysoc.api.alerts.models import AlertOut, AlertPage
from citysoc.api.deps import get_store
from citysoc.api.params import Instant
from citysoc.core.alert import Level
from citysoc.core.event import utc
from citysoc.store.base import AlertQuery, Store
from citysoc.web.auth import Principal, require_admin

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("", response_model=AlertPage)
async def list_alerts(
    _: Annotated[Principal, Depends(require_admin)],
    store: Annotated[Store, Depends(get_store)],
    agency: str | None = None,
    rule_id: str | None = None,
    level: Level | None = None,
    since: Instant = None,
    until: Instant = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> AlertPage:
    try:
        before = service.decode_cursor(cursor) if cursor else None
    except service.BadCursor as e:
        raise HTTPException(400, str(e)) from e
    q = AlertQuery(
        agency=agency,
        rule_id=rule_id,
        level=level,
        since=utc(since) if since else None,
        until=utc(until) if until else None,
        limit=limit,
        before=before,
    )
    items, next_cursor = await service.list_alerts(store, q)
    return AlertPage(items=[AlertOut.of(a) for a in items], next_cursor=next_cursor)


@router.get("/{alert_id}", response_model=AlertOut)
async def get_alert(
    alert_id: uuid.UUID,
    _: Annotated[Principal, Depends(require_admin)],
    store: Annotated[Store, Depends(get_store)],
) -> AlertOut:
    a = await service.get_alert(store, str(alert_id))
    if a is None:
        raise HTTPException(404, "no such alert")
    return AlertOut.of(a)
