"""``/api/v1/alert-groups``: the analysts' queue (filter, sort, cursor), triage (one or bulk),
assignment, and the drill-down into a group's occurrences in ClickHouse."""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.alerts import service as alert_cursor
from citysoc.api.alerts.models import AlertOut, AlertPage
from citysoc.api.deps import get_store
from citysoc.api.groups import service
from citysoc.api.groups.models import (
    AssignIn,
    BulkOut,
    BulkTransitionIn,
    GroupOut,
    GroupPage,
    GroupSort,
    TransitionIn,
)
from citysoc.api.params import Cursor, IdPath, IdQuery, Instant, Limit, ShortQuery, Text
from citysoc.core.alert import Level
from citysoc.core.event import utc
from citysoc.db.enums import Action, GroupStatus
from citysoc.store.base import Store

router = APIRouter(prefix="/api/v1/alert-groups", tags=["alert groups"])
Reader = Annotated[Actor, Depends(require(Action.GROUP_READ))]
Triager = Annotated[Actor, Depends(require(Action.GROUP_TRIAGE))]
Short = ShortQuery


@router.get("", response_model=GroupPage)
async def list_groups(
    actor: Reader,
    session: Session,
    agency: Short = None,
    system: Short = None,
    rule_id: Short = None,
    level: Level | None = None,
    min_level: Level | None = None,
    status: GroupStatus | None = None,
    assignee_id: IdQuery = None,
    since: Annotated[Instant, Query(description="last seen at or after")] = None,
    until: Annotated[Instant, Query(description="last seen before")] = None,
    q: Text = None,
    suppressed: Annotated[
        bool | None, Query(description="true: held by an active suppression rule; false: raising")
    ] = None,
    sort: GroupSort = "-last_seen",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> GroupPage:
    f = service.GroupFilter(
        agency=agency,
        system=system,
        rule_id=rule_id,
        level=level,
        min_level=min_level,
        status=status,
        assignee_id=assignee_id,
        since=utc(since) if since else None,
        until=utc(until) if until else None,
        q=q,
        suppressed=suppressed,
    )
    rows, nxt = await service.list_groups(session, actor, f, sort=sort, limit=limit, cursor=cursor)
    return GroupPage(items=[GroupOut.model_validate(g) for g in rows], next_cursor=nxt)


@router.post("/bulk-transition", response_model=BulkOut)
async def bulk_transition(actor: Triager, session: Session, body: BulkTransitionIn) -> BulkOut:
    data = TransitionIn(to=body.to, reason=body.reason)
    return await service.bulk_transition(session, actor, body.ids, data)


@router.get("/{group_id}", response_model=GroupOut)
async def get_group(actor: Reader, session: Session, group_id: IdPath) -> GroupOut:
    return GroupOut.model_validate(await service.get(session, actor, group_id))


@router.post("/{group_id}/transition", response_model=GroupOut)
async def transition(actor: Triager, session: Session, group_id: IdPath, body: TransitionIn) -> GroupOut:
    return GroupOut.model_validate(await service.transition(session, actor, group_id, body))


@router.put("/{group_id}/assignee", response_model=GroupOut)
async def assign(actor: Triager, session: Session, group_id: IdPath, body: AssignIn) -> GroupOut:
    return GroupOut.model_validate(await service.assign(session, actor, group_id, body))


@router.get("/{group_id}/occurrences", response_model=AlertPage)
async def occurrences(
    actor: Reader,
    session: Session,
    store: Annotated[Store, Depends(get_store)],
    group_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Cursor = None,
) -> AlertPage:
    """The group's alerts as stored in ClickHouse, newest detection first (the cursor has the
    shape of ``/api/v1/alerts``' cursor)."""
    try:
        before = alert_cursor.decode_cursor(cursor) if cursor else None
    except alert_cursor.BadCursor as e:
        raise HTTPException(400, str(e)) from e
    ids = await service.occurrences(session, actor, group_id, limit + 1, before)
    page = ids[:limit]
    found = await asyncio.to_thread(store.get_alerts, [aid for aid, _ in page])
    items = [AlertOut.of(a) for a in found]
    nxt = None
    if len(ids) > limit and page:
        aid, at = page[-1]
        nxt = base64.urlsafe_b64encode(f"{utc(at).isoformat()}|{aid}".encode()).decode()
    return AlertPage(items=items, next_cursor=nxt)
