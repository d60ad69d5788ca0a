"""The alert queue: the grouped view (alert groups, with filters, sorting, pagination and auto-refresh)
and, at ``?view=flat``, the flat view of single alerts (``views_flat``); a group's page with its
occurrences and the matched event; triage (acknowledge, escalate, dismiss with a reason), one group or
many. Everything goes through ``citysoc.api.groups.service``, so scoping, the transition table and the
audit trail are the API's own.

A bare ``/alerts`` (no query string at all) opens the user's default saved view when they have one:
a redirect, so the address always shows the filters in force.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session
from citysoc.api.errors import Conflict
from citysoc.api.groups import service
from citysoc.api.groups.models import TransitionIn
from citysoc.api.params import MAX_ID, IdPath
from citysoc.api.views import service as saved_views
from citysoc.core.alert import Alert
from citysoc.core.event import Event
from citysoc.db import AlertGroup, SavedView, User
from citysoc.db.enums import Action, DismissReason, GroupStatus
from citysoc.store.base import Store
from citysoc.web.console import incident_lookup, views_flat
from citysoc.web.console.queue import SORTS, agency_names, allowed, parse_query, queue_context
from citysoc.web.console.render import ConsoleRoute, flash, redirect, render
from citysoc.web.console.session import ConsoleActor, check_csrf, safe_next

__all__ = ["SORTS", "router"]
router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
OCCURRENCES = 50
Short = Annotated[str, Form(max_length=200)]


async def status_counts(session: AsyncSession, actor: Actor, f: service.GroupFilter) -> dict[str, int]:
    """Groups per status under the current filters (status itself aside)."""
    stmt = service.filtered(service.scope(sa.select(AlertGroup), actor), replace(f, status=None))
    sub = stmt.with_only_columns(AlertGroup.status).subquery()
    counted = sa.select(sub.c.status, sa.func.count()).group_by(sub.c.status)
    return {str(s): int(n) for s, n in (await session.execute(counted)).all()}


async def _default_view(session: AsyncSession, actor: Actor) -> str | None:
    """Where a bare ``/alerts`` goes for this actor: their default view's address, if any."""
    if actor.user_id is None or not actor.can(Action.VIEW_READ):
        return None
    view_id = await saved_views.default_id(session, actor)
    if view_id is None:
        return None
    v = await session.get(SavedView, view_id)
    return f"/alerts?{saved_views.applied_query(actor, v.query)}" if v is not None else None


@router.get("/alerts")
async def queue(request: Request, actor: ConsoleActor, session: Session) -> Response:
    if not actor.can(Action.GROUP_READ):
        raise HTTPException(403, "group.read")
    if not request.url.query and (target := await _default_view(session, actor)) is not None:
        return redirect(target)
    qq = parse_query(request, actor)
    if qq.view == "flat":
        return await views_flat.flat_page(request, actor, session, qq)
    f = service.GroupFilter(
        agency=qq.agency,
        rule_id=qq.rule,
        level=qq.level,
        status=qq.status,
        q=qq.q,
        since=qq.since(),
        suppressed=qq.held(),
    )
    try:
        rows, nxt = await service.list_groups(
            session, actor, f, sort=qq.sort, limit=qq.limit, cursor=qq.cursor
        )
    except HTTPException:  # a stale or foreign cursor: start again from the first page
        qq = replace(qq, cursor=None)
        rows, nxt = await service.list_groups(session, actor, f, sort=qq.sort, limit=qq.limit, cursor=None)
    ctx = {
        **await queue_context(request, actor, session, qq),
        "groups": rows,
        "next_cursor": nxt,
        "counts": await status_counts(session, actor, f),
        "allowed": lambda g: allowed(actor, g.status),
    }
    return render(request, "alerts.html", ctx, actor=actor, active="alerts")


def _alerts(store: Store, ids: Sequence[str]) -> list[Alert]:
    return store.get_alerts(ids)


@router.get("/alerts/groups/{group_id}")
async def group_page(
    request: Request, actor: ConsoleActor, session: Session, group_id: IdPath, alert: str = ""
) -> Response:
    if not actor.can(Action.GROUP_READ):
        raise HTTPException(403, "group.read")
    g = await service.get(session, actor, group_id)
    ids = await service.occurrences(session, actor, group_id, OCCURRENCES, None)
    store: Store = request.app.state.store
    occurrences = await asyncio.to_thread(_alerts, store, [aid for aid, _ in ids])
    selected = next((a for a in occurrences if a.alert_id == alert), occurrences[0] if occurrences else None)
    events: list[Event] = []
    if selected is not None and selected.event_ids:
        wanted = list(selected.event_ids[: views_flat.PREVIEW_EVENTS])
        events = await asyncio.to_thread(store.get_events, wanted)
    assignee = await session.get(User, g.assignee_id) if g.assignee_id is not None else None
    can_open = actor.can(Action.INCIDENT_WRITE) and g.incident_id is None
    back = safe_next(request.query_params.get("back"), "/alerts")
    ctx = {
        "g": g,
        "occurrences": occurrences,
        "total": g.count,
        "selected": selected,
        "preview": views_flat.preview_context(selected, events, g, back) if selected is not None else None,
        "assignee": assignee.username if assignee is not None else None,
        "allowed": allowed(actor, g.status),
        "reasons": list(DismissReason),
        "agencies": await agency_names(session, actor),
        "back": back,
        "can_open": can_open,
        "open_incidents": await incident_lookup.open_choices(session, actor) if can_open else [],
        "can_suppress": actor.can(Action.SUPPRESSION_WRITE),
        "suppress_query": urllib.parse.urlencode(
            [("rule", g.rule_id), ("agency", g.agency), ("system", g.system)]
            + [("key", f"{k}={v}") for k, v in g.key.items()]
        ),
    }
    return render(request, "group.html", ctx, actor=actor, active="alerts")


def _transition(to: str, reason: str) -> TransitionIn:
    try:
        return TransitionIn(to=GroupStatus(to), reason=DismissReason(reason) if reason else None)
    except (ValueError, ValidationError) as e:
        raise HTTPException(400, "transition") from e


@router.post("/alerts/groups/{group_id}/triage")
async def triage(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    group_id: IdPath,
    to: Short,
    reason: Short = "",
    csrf: Short = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(request, csrf)
    if not actor.can(Action.GROUP_TRIAGE):
        raise HTTPException(403, "group.triage")
    data = _transition(to, reason if to == GroupStatus.DISMISSED else "")
    response = redirect(safe_next(back, f"/alerts/groups/{group_id}"))
    try:
        await service.transition(session, actor, group_id, data)
        flash(request, response, f"flash.done.{data.to.value}", n=1)
    except Conflict:
        flash(request, response, "flash.refused", n=1)
    return response


@router.post("/alerts/bulk")
async def bulk(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    to: Short,
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    reason: Short = "",
    csrf: Short = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(request, csrf)
    if not actor.can(Action.GROUP_TRIAGE):
        raise HTTPException(403, "group.triage")
    data = _transition(to, reason if to == GroupStatus.DISMISSED else "")
    response = redirect(safe_next(back, "/alerts"))
    if not ids:
        flash(request, response, "flash.none_selected")
        return response
    result = await service.bulk_transition(session, actor, [i for i in ids if 1 <= i <= MAX_ID][:500], data)
    failed = len(result.results) - result.changed
    flash(request, response, f"flash.bulk.{data.to.value}", n=result.changed, m=failed)
    return response
