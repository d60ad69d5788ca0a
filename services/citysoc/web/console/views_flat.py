"""The alert queue's flat view (single alerts read from the store, newest detection first, keyset
paged with the alerts API's cursor) and the matched-event preview of a queue row.

Scoping: an agency officer's flat view always queries their own agency (whatever the address says),
and a preview of an alert or group outside their agency is "not found". The store is synchronous, so
its calls run in a worker thread (``asyncio.to_thread``).

``GET /alerts/preview?alert=<id>`` or ``?group=<id>`` (the group's newest occurrence) renders a full
page, the target of the row's preview link without JavaScript; with ``partial=1`` it renders only the
preview fragment, which ``console.js`` loads into the queue's preview panel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session
from citysoc.api.alerts import service as alerts
from citysoc.api.groups import service as groups
from citysoc.api.params import NO_NUL, IdQuery
from citysoc.core.alert import Alert
from citysoc.core.event import Event
from citysoc.db import AlertGroup, SeenAlert
from citysoc.db.enums import Action
from citysoc.store.base import AlertQuery, Store
from citysoc.web.console.queue import QueueQuery, allowed, queue_context
from citysoc.web.console.render import ConsoleRoute, render
from citysoc.web.console.session import ConsoleActor, safe_next

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PREVIEW_EVENTS = 5
RAW_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class FlatRow:
    alert: Alert
    group: AlertGroup | None
    """The alert group the alert was fed into (``None`` when not fed yet, or outside scope)."""


async def groups_of(session: AsyncSession, actor: Actor, alert_ids: Sequence[str]) -> dict[str, AlertGroup]:
    """``alert id -> its alert group`` for the ids that have one the actor can see (one query)."""
    if not alert_ids:
        return {}
    stmt = groups.scope(sa.select(AlertGroup), actor)
    stmt = stmt.join(SeenAlert, SeenAlert.group_id == AlertGroup.id).where(SeenAlert.alert_id.in_(alert_ids))
    rows = await session.execute(stmt.add_columns(SeenAlert.alert_id))
    return {str(aid): g for g, aid in rows.all()}


def store_query(actor: Actor, qq: QueueQuery) -> AlertQuery:
    """The store query of the flat view's filters; an officer's agency is forced to their own."""
    agency = (actor.agency_code or "") if actor.scoped else qq.agency
    before = alerts.decode_cursor(qq.cursor) if qq.cursor else None
    if before is not None and not (1970 <= before[0].year <= 2299 and before[1].isprintable()):
        raise alerts.BadCursor("cursor out of range")  # what neither store could compare
    return AlertQuery(
        agency=agency, rule_id=qq.rule, level=qq.level, since=qq.since(), limit=qq.limit, before=before
    )


async def flat_page(request: Request, actor: Actor, session: AsyncSession, qq: QueueQuery) -> Response:
    """The flat view of ``/alerts`` (``?view=flat``); the caller checked ``group.read``."""
    store: Store = request.app.state.store
    try:
        q = store_query(actor, qq)
    except alerts.BadCursor:  # a stale or foreign cursor: start again from the first page
        qq = replace(qq, cursor=None)
        q = store_query(actor, qq)
    found, nxt = await alerts.list_alerts(store, q)
    by_alert = await groups_of(session, actor, [a.alert_id for a in found])
    ctx = {
        **await queue_context(request, actor, session, qq),
        "rows": [FlatRow(a, by_alert.get(a.alert_id)) for a in found],
        "next_cursor": nxt,
        "allowed": lambda g: allowed(actor, g.status),
    }
    return render(request, "alerts.html", ctx, actor=actor, active="alerts")


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode()


def preview_context(a: Alert, events: Sequence[Event], g: AlertGroup | None, back: str) -> dict[str, Any]:
    """What ``_event_preview.html`` shows of alert ``a``: its facts, its group ``g`` (if fed into one)
    and its matched ``events`` (raw text cut at ``RAW_CHARS``, parsed fields pretty-printed)."""
    return {
        "a": a,
        "g": g,
        "matched": sorted(a.matched_fields.items()),
        "extra": _pretty(dict(a.extra)) if a.extra else "",
        "events": [
            {"event": e, "fields": _pretty(e.fields), "raw": e.raw_text()[:RAW_CHARS]} for e in events
        ],
        "back": back,
    }


def _preview_of(store: Store, alert_id: str) -> tuple[Alert | None, list[Event]]:
    """The alert and its first matched events (one worker-thread hop for both store reads)."""
    found = store.get_alerts([alert_id])
    if not found:
        return None, []
    a = found[0]
    return a, store.get_events(list(a.event_ids[:PREVIEW_EVENTS])) if a.event_ids else []


@router.get("/alerts/preview")
async def preview(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    alert: str = Query("", max_length=100, pattern=NO_NUL),
    group: IdQuery = None,
    partial: bool = False,
) -> Response:
    """The matched event(s) of an alert, or of a group's newest occurrence, within the actor's scope."""
    if not actor.can(Action.GROUP_READ):
        raise HTTPException(403, "group.read")
    g: AlertGroup | None = None
    if group is not None:
        g = await groups.get(session, actor, group)
        newest = await groups.occurrences(session, actor, group, 1, None)
        alert = newest[0][0] if newest else ""
    if not alert:
        raise HTTPException(404 if group is not None else 400, "alert")
    store: Store = request.app.state.store
    a, events = await asyncio.to_thread(_preview_of, store, alert)
    if a is None or (actor.scoped and a.agency != actor.agency_code):
        raise HTTPException(404, "alert")
    if g is None:
        g = (await groups_of(session, actor, [a.alert_id])).get(a.alert_id)
    ctx = preview_context(a, events, g, safe_next(request.query_params.get("back"), "/alerts"))
    template = "_event_preview.html" if partial else "preview.html"
    return render(request, template, ctx, actor=actor, active="alerts")
