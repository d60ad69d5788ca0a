"""``/api/v1/events/{id}`` and ``/api/v1/dead-letters``: drill-down from an alert to what was received."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from citysoc.api.deps import get_store
from citysoc.store.base import Store
from citysoc.web.auth import Principal, require_admin

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events/{event_id}")
async def get_event(
    event_id: uuid.UUID,
    _: Annotated[Principal, Depends(require_admin)],
    store: Annotated[Store, Depends(get_store)],
) -> dict[str, Any]:
    """The stored envelope (``schemas/event.schema.json``), raw bytes exactly as received."""
    e = await asyncio.to_thread(store.get_event, str(event_id))
    if e is None:
        raise HTTPException(404, "no such event")
    return e.to_dict()


@router.get("/dead-letters")
async def list_dead_letters(
    _: Annotated[Principal, Depends(require_admin)],
    store: Annotated[Store, Depends(get_store)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Newest dead letters with reason and raw bytes (base64), for operators."""
    rows = await asyncio.to_thread(store.dead_letters, limit)
    return {"items": [d.to_dict() for d in rows]}
