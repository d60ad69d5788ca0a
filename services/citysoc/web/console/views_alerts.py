"""The alert queue (alert groups): list with filters, sorting, pagination and auto-refresh; a group's
page with its occurrences and the matched event; triage (acknowledge, escalate, dismiss with a
reason), one group or many. Everything goes through ``citysoc.api.groups.service``, so scoping,
the transition table and the audit trail are the API's own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session
from citysoc.api.errors import Conflict
from citysoc.api.groups import service
from citysoc.api.groups.models import TransitionIn
from citysoc.api.groups.triage import TRANSITIONS
from citysoc.core.alert import LEVELS, Alert
from citysoc.core.event import Event
from citysoc.db import Agency, AlertGroup, User
from citysoc.db.enums import Action, DismissReason, GroupStatus
from citysoc.store.base import Store
from citysoc.web.console.render import ConsoleRoute, flash, redirect, render
from citysoc.web.console.session import ConsoleActor, check_csrf, safe_next

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE_SIZES = (25, 50, 100)
SORTS = ("-last_seen", "last_seen", "-first_seen", "first_seen", "-count", "count", "-level", "level")
OCCURRENCES = 50
Short = Annotated[str, Form(max_length=200)]


@dataclass(frozen=True, slots=True)
class QueueQuery:
    agency: str | None = None
    status: GroupStatus | None = None
    level: str | None = None
    rule: str | None = None
    q: str | None = None
    sort: str = "-last_seen"
    limit: int = 50
    cursor: str | None = None


def _text(request: Request, name: str) -> str | None:
    v = request.query_params.get(name, "").strip()
    return v[:200] or None


def parse_query(request: Request, actor: Actor) -> QueueQuery:
    """Filters from the query string; values the queue does not know are ignored, not errors."""
    status = _text(request, "status")
    level = _text(request, "level")
    sort = _text(request, "sort") or "-last_seen"
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        limit = 50
    return QueueQuery(
        agency=None if actor.scoped else _text(request, "agency"),
        status=GroupStatus(status)
        if status is not None and status in GroupStatus._value2member_map_
        else None,
        level=level if level in LEVELS else None,
        rule=_text(request, "rule"),
        q=_text(request, "q"),
        sort=sort if sort in SORTS else "-last_seen",
        limit=limit if limit in PAGE_SIZES else 50,
        cursor=_text(request, "cursor"),
    )


def allowed(actor: Actor, status: GroupStatus) -> list[GroupStatus]:
    """The transitions this actor may make from ``status`` (none without ``group.triage``)."""
    if not actor.can(Action.GROUP_TRIAGE):
        return []
    order = [GroupStatus.ACKNOWLEDGED, GroupStatus.ESCALATED, GroupStatus.DISMISSED]
    return [s for s in order if s in TRANSITIONS[status]]


async def agency_names(session: AsyncSession, actor: Actor) -> dict[str, str]:
    stmt = sa.select(Agency.code, Agency.name).order_by(Agency.code)
    if actor.scoped:
        stmt = stmt.where(Agency.id == actor.agency_id)
    return {code: name for code, name in (await session.execute(stmt)).all()}


async def status_counts(session: AsyncSession, actor: Actor, f: service.GroupFilter) -> dict[str, int]:
    """Groups per status under the current filters (status itself aside)."""
    stmt = service.scope(sa.select(AlertGroup), actor)
    for col, value in (
        (AlertGroup.agency, f.agency),
        (AlertGroup.rule_id, f.rule_id),
        (AlertGroup.level, f.level),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.q:
        stmt = stmt.where(
            sa.or_(
                AlertGroup.title.icontains(f.q, autoescape=True),
                AlertGroup.rule_id.icontains(f.q, autoescape=True),
            )
        )
    sub = stmt.with_only_columns(AlertGroup.status).subquery()
    counted = sa.select(sub.c.status, sa.func.count()).group_by(sub.c.status)
    return {str(s): int(n) for s, n in (await session.execute(counted)).all()}


@router.get("/alerts")
async def queue(request: Request, actor: ConsoleActor, session: Session) -> Response:
    if not actor.can(Action.GROUP_READ):
        raise HTTPException(403, "group.read")
    qq = parse_query(request, actor)
    f = service.GroupFilter(agency=qq.agency, rule_id=qq.rule, level=qq.level, status=qq.status, q=qq.q)
    try:
        rows, nxt = await service.list_groups(
            session, actor, f, sort=qq.sort, limit=qq.limit, cursor=qq.cursor
        )
    except HTTPException:  # a stale or foreign cursor: start again from the first page
        qq = replace(qq, cursor=None)
        rows, nxt = await service.list_groups(session, actor, f, sort=qq.sort, limit=qq.limit, cursor=None)
    ctx = {
        "groups": rows,
        "next_cursor": nxt,
        "query": qq,
        "counts": await status_counts(session, actor, f),
        "agencies": await agency_names(session, actor),
        "allowed": lambda g: allowed(actor, g.status),
        "can_triage": actor.can(Action.GROUP_TRIAGE),
        "can_open": actor.can(Action.INCIDENT_WRITE),
        "statuses": list(GroupStatus),
        "levels": list(reversed(LEVELS)),
        "reasons": list(DismissReason),
        "page_sizes": PAGE_SIZES,
        "sorts": SORTS,
    }
    return render(request, "alerts.html", ctx, actor=actor, active="alerts")


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode()


def _alerts(store: Store, ids: Sequence[str]) -> list[Alert]:
    return store.get_alerts(ids)


@router.get("/alerts/groups/{group_id}")
async def group_page(
    request: Request, actor: ConsoleActor, session: Session, group_id: int, alert: str = ""
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
        events = await asyncio.to_thread(store.get_events, list(selected.event_ids[:10]))
    assignee = await session.get(User, g.assignee_id) if g.assignee_id is not None else None
    ctx = {
        "g": g,
        "occurrences": occurrences,
        "total": g.count,
        "selected": selected,
        "events": [{"event": e, "fields": _pretty(e.fields), "raw": e.raw_text()[:20_000]} for e in events],
        "selected_extra": _pretty(dict(selected.extra)) if selected is not None and selected.extra else "",
        "assignee": assignee.username if assignee is not None else None,
        "allowed": allowed(actor, g.status),
        "reasons": list(DismissReason),
        "agencies": await agency_names(session, actor),
        "back": safe_next(request.query_params.get("back"), "/alerts"),
        "can_open": actor.can(Action.INCIDENT_WRITE) and g.incident_id is None,
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
    group_id: int,
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
    result = await service.bulk_transition(session, actor, ids[:500], data)
    failed = len(result.results) - result.changed
    flash(request, response, f"flash.bulk.{data.to.value}", n=result.changed, m=failed)
    return response
