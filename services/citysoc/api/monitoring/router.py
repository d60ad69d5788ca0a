"""``/api/v1/monitoring``: 24/7 coverage — what each agency, system and source sent, and when last."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from citysoc.api.deps import get_store
from citysoc.api.params import Instant
from citysoc.core.event import utc
from citysoc.store.base import Store
from citysoc.web.auth import Principal, require_admin

router = APIRouter(prefix="/api/v1", tags=["monitoring"])


@router.get("/monitoring")
async def monitoring(
    _: Annotated[Principal, Depends(require_admin)],
    store: Annotated[Store, Depends(get_store)],
    since: Instant = None,
    until: Instant = None,
    agency: str | None = None,
    silent_after_minutes: Annotated[int, Query(ge=1, le=10_080)] = 15,
) -> dict[str, Any]:
    """Activity per source in ``[since, until)`` (default: the last 24 hours) from the per-minute
    rollups, each with ``silent``: nothing received in the last ``silent_after_minutes``."""
    now = datetime.now(UTC)
    until_ = utc(until) if until else now
    since_ = utc(since) if since else until_ - timedelta(hours=24)
    if since_ >= until_:
        raise HTTPException(400, "since must be before until")
    rows = await asyncio.to_thread(store.monitoring, since_, until_, agency)
    cutoff = now - timedelta(minutes=silent_after_minutes)
    items = []
    for r in rows:
        item = asdict(r)
        item["last_seen"] = r.last_seen.isoformat() if r.last_seen else None
        item["silent"] = r.last_seen is not None and r.last_seen < cutoff
        items.append(item)
    return {"since": since_.isoformat(), "until": until_.isoformat(), "items": items}
