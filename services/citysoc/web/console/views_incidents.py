"""Incidents in the console: the list (filters, status tabs, the form opening one by hand), an
incident's page (summary, state moves offered from the transition table, linked alert groups, tasks,
observables, evidence with custody, comments, reports, timeline with what each entry changed), and
opening an incident from selected alert groups (queue bulk or group page). Creating by hand, linking,
unlinking and merging are ``views_incident_links``.

Everything goes through ``citysoc.api.incidents`` and ``citysoc.api.reports``: scoping, the
transition table, preconditions and the audit trail are the API's own. The page offers only what the
actor's permissions allow; the handlers check again. A refused change (409/422 from the service)
comes back as a flash message with the service's reason left out (it is English); the page shows
what closing needs before it is tried.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session
from citysoc.api.groups import service as groups
from citysoc.api.incidents import lifecycle, links, readmodel, service, work
from citysoc.api.incidents.models import IncidentIn, IncidentPatch, TransitionIn
from citysoc.api.incidents.router import _visible as timeline_visible
from citysoc.api.params import MAX_ID, IdPath
from citysoc.api.reports import service as reports
from citysoc.core.config import Settings
from citysoc.db import Agency, AlertGroup, AuditEntry, User
from citysoc.db.enums import (
    Action,
    Determination,
    IncidentStatus,
    ObservableKind,
    ReportKind,
    ReportStatus,
    Severity,
    TaskStatus,
)
from citysoc.web.console import history, i18n, incident_lookup
from citysoc.web.console.chronology import chronology
from citysoc.web.console.render import ConsoleRoute, NavItem, add_nav, flash, redirect, redirect_with, render
from citysoc.web.console.session import ConsoleActor, check_csrf, safe_next

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
add_nav(NavItem("incidents", "/incidents", "nav.incidents", lambda a: a.can(Action.INCIDENT_READ)), "alerts")
PAGE_SIZES = (25, 50, 100)
SORTS = ("-detected_at", "detected_at", "-severity", "severity", "report_due_at", "-created_at")
TIMELINE = 200
TLPS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED")
"""The markings (TLP 2.0) the console offers when an incident is opened by hand."""
CUSTODY_ACTIONS = ("transferred", "stored", "examined", "copied", "returned", "released", "destroyed")
"""Custody steps offered after ``acquired`` (the API takes any lowercase word; these are translated)."""
Short = Annotated[str, Form(max_length=200)]
Long = Annotated[str, Form(max_length=20000)]
# Group levels to incident severity when an incident is opened from groups.
LEVEL_SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
}


@dataclass(frozen=True, slots=True)
class ListQuery:
    status: IncidentStatus | None = None
    severity: Severity | None = None
    open: bool | None = None
    q: str | None = None
    sort: str = "-detected_at"
    limit: int = 50
    cursor: str | None = None


def _param(request: Request, name: str) -> str | None:
    return request.query_params.get(name, "").strip()[:200] or None


def _enum[E: StrEnum](kind: type[E], value: str | None) -> E | None:
    return kind(value) if value and value in kind._value2member_map_ else None


def parse_query(request: Request) -> ListQuery:
    """Filters from the query string; unknown values are ignored, not errors."""
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        limit = 50
    sort = _param(request, "sort") or "-detected_at"
    state = _param(request, "open")
    return ListQuery(
        status=_enum(IncidentStatus, _param(request, "status")),
        severity=_enum(Severity, _param(request, "severity")),
        open={"true": True, "false": False}.get(state or ""),
        q=_param(request, "q"),
        sort=sort if sort in SORTS else "-detected_at",
        limit=limit if limit in PAGE_SIZES else 50,
        cursor=_param(request, "cursor"),
    )


async def agency_names(session: AsyncSession, ids: set[int] | None = None) -> dict[int, tuple[str, str]]:
    stmt = sa.select(Agency.id, Agency.code, Agency.name).order_by(Agency.code)
    if ids is not None:
        stmt = stmt.where(Agency.id.in_(ids or {0}))
    return {i: (c, n) for i, c, n in (await session.execute(stmt)).all()}


def _read(actor: Actor) -> None:
    if not actor.can(Action.INCIDENT_READ):
        raise HTTPException(403, "incident.read")


def _write(actor: Actor) -> None:
    if not actor.can(Action.INCIDENT_WRITE):
        raise HTTPException(403, "incident.write")


@router.get("/incidents")
async def incident_list(request: Request, actor: ConsoleActor, session: Session) -> Response:
    _read(actor)
    qq = parse_query(request)
    f = service.IncidentFilter(status=qq.status, severity=qq.severity, open=qq.open, q=qq.q)
    try:
        rows, nxt = await service.list_incidents(
            session, actor, f, sort=qq.sort, limit=qq.limit, cursor=qq.cursor
        )
    except HTTPException:  # a stale or foreign cursor: the first page
        qq = replace(qq, cursor=None)
        rows, nxt = await service.list_incidents(session, actor, f, sort=qq.sort, limit=qq.limit, cursor=None)
    items = await readmodel.views(session, rows)
    lead = {i.lead_agency_id for i in items if i.lead_agency_id is not None}
    ctx = {
        "items": items,
        "next_cursor": nxt,
        "query": qq,
        "agencies": await agency_names(session, lead),
        "statuses": list(IncidentStatus),
        "severities": list(Severity),
        "page_sizes": PAGE_SIZES,
        "sorts": SORTS,
        "can_write": actor.can(Action.INCIDENT_WRITE),
        "all_agencies": await agency_names(session) if actor.can(Action.INCIDENT_WRITE) else {},
        "tlps": TLPS,
    }
    return render(request, "incidents.html", ctx, actor=actor, active="incidents")


def offered(actor: Actor, status: IncidentStatus) -> list[tuple[IncidentStatus, bool]]:
    """The moves this actor may make from ``status``, each with whether it needs a reason."""
    if not actor.can(Action.INCIDENT_WRITE):
        return []
    order = list(IncidentStatus)
    targets = sorted(lifecycle.TRANSITIONS[status], key=order.index)
    return [(to, lifecycle.needs_reason(status, to)) for to in targets]


async def _timeline(session: AsyncSession, actor: Actor, incident_id: int) -> list[AuditEntry]:
    stmt = (
        sa.select(AuditEntry)
        .where(AuditEntry.object_type == "incident", AuditEntry.object_id == str(incident_id))
        .order_by(AuditEntry.seq.desc())
        .limit(TIMELINE)
    )
    return [e for e in await session.scalars(stmt) if timeline_visible(actor, e)]


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, actor: ConsoleActor, session: Session, incident_id: IdPath
) -> Response:
    _read(actor)
    row = await service.get(session, actor, incident_id)
    inc = (await readmodel.views(session, [row]))[0]
    tasks, _ = await work.list_tasks(
        session,
        actor,
        incident_id=incident_id,
        agency_id=None,
        status=None,
        overdue=None,
        sort="due_at",
        limit=200,
        cursor=None,
    )
    ids = {*inc.affected_agency_ids, *inc.coordinating_agency_ids, *(t.agency_id for t in tasks)}
    if inc.lead_agency_id is not None:
        ids.add(inc.lead_agency_id)
    open_mandatory = await service.open_mandatory_tasks(session, incident_id)
    missing = [
        key
        for key, lacking in (
            ("incident.needs.determination", inc.determination is None),
            ("incident.needs.summary", not (inc.summary or "").strip()),
            ("incident.needs.tasks", open_mandatory > 0),
        )
        if lacking
    ]
    report_rows = (
        (await reports.list_for(session, actor, incident_id))[1] if actor.can(Action.REPORT_READ) else []
    )
    assignee = await session.get(User, inc.assignee_id) if inc.assignee_id is not None else None
    timeline = await _timeline(session, actor, incident_id)
    agency_ids, incident_ids = history.referenced([s for e in timeline for s in (e.before, e.after)])
    if inc.merged_into_id is not None:
        incident_ids.add(inc.merged_into_id)
    codes = await incident_lookup.codes(session, actor, incident_ids)
    agencies = await agency_names(session, ids | agency_ids)  # one lookup for the page and its history
    names = history.Names({a: c for a, (c, _) in agencies.items()}, codes)
    can_link = actor.can(Action.INCIDENT_WRITE) and inc.status in lifecycle.OPEN_STATES
    groups = await links.list_groups(session, actor, incident_id)
    observables = await work.observables(session, actor, incident_id)
    evidence = await work.list_evidence(session, actor, incident_id)
    story = chronology(
        inc, groups=groups, tasks=tasks, evidence=evidence, observables=observables, reports=report_rows
    )
    ctx = {
        "i": inc,
        "assignee": assignee.username if assignee is not None else None,
        "agencies": agencies,
        "all_agencies": await agency_names(session) if actor.can(Action.INCIDENT_WRITE) else {},
        "offered": offered(actor, inc.status),
        "missing": missing,
        "open_mandatory": open_mandatory,
        "groups": groups,
        "tasks": tasks,
        "task_statuses": list(TaskStatus),
        "observables": observables,
        "kinds": list(ObservableKind),
        "evidence": evidence,
        "story": story,
        "comments": await work.comments(session, actor, incident_id),
        "reports": [(r, reports.number(row, r)) for r in report_rows],
        "report_kinds": list(ReportKind),
        "report_next": {s: sorted(reports.NEXT[s]) for s in ReportStatus},
        "timeline": timeline,
        "changes": lambda t, e: history.changes(t, e.action, e.before, e.after, names),
        "merged_into": codes.get(inc.merged_into_id) if inc.merged_into_id is not None else None,
        "can_link": can_link,
        "merge_choices": (
            await incident_lookup.open_choices(session, actor, exclude=inc.id) if can_link else []
        ),
        "custody_actions": CUSTODY_ACTIONS,
        "severities": list(Severity),
        "determinations": list(Determination),
        "can_write": actor.can(Action.INCIDENT_WRITE),
        "can_contribute": actor.can(Action.INCIDENT_CONTRIBUTE),
        "can_report": actor.can(Action.REPORT_WRITE),
        "can_approve": actor.can(Action.REPORT_APPROVE),
        "editable_task": lambda t: (
            actor.can(Action.INCIDENT_WRITE)
            or (actor.can(Action.INCIDENT_CONTRIBUTE) and t.agency_id == actor.agency_id)
        ),
    }
    return render(request, "incident.html", ctx, actor=actor, active="incidents")


# --- changes ----------------------------------------------------------------------------------------


def _back(incident_id: int, anchor: str = "") -> Response:
    return redirect(f"/incidents/{incident_id}" + (f"#{anchor}" if anchor else ""))


async def _attempt(request: Request, response: Response, done: str, change: Any) -> Response:
    """Await ``change``; flash ``done`` or, when the service refuses (409/422), ``flash.refused``."""
    try:
        await change
        flash(request, response, done)
    except HTTPException as e:
        if e.status_code not in (400, 409, 422):
            raise
        flash(request, response, "flash.incident.refused")
    return response


@router.post("/incidents/from-groups")
async def open_from_groups(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    title: Short = "",
    csrf: Short = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """A new incident holding the selected groups (title and severity from the groups)."""
    check_csrf(request, csrf)
    _write(actor)
    wanted = sorted({i for i in ids if 1 <= i <= MAX_ID})[:200]
    if not wanted:
        return redirect_with(request, safe_next(back, "/alerts"), "flash.none_selected")
    found = list(
        await session.scalars(
            groups.scope(sa.select(AlertGroup), actor)
            .where(AlertGroup.id.in_(wanted))
            .order_by(AlertGroup.id)
        )
    )
    if not found:
        raise HTTPException(404, "group")
    rank = {lvl: n for n, lvl in enumerate(("informational", "low", "medium", "high", "critical"))}
    top = max(found, key=lambda g: (rank.get(g.level, 0), g.count))
    default = top.title + (f" (+{len(found) - 1})" if len(found) > 1 else "")
    settings: Settings = request.app.state.settings
    try:
        data = IncidentIn(
            title=title.strip() or default,
            severity=LEVEL_SEVERITY.get(top.level, Severity.LOW),
            group_ids=[g.id for g in found],
        )
    except ValidationError as e:
        raise HTTPException(422, "incident") from e
    try:
        incident = await service.create(session, actor, data, settings.reporting)
    except HTTPException as e:
        if e.status_code != 409:
            raise
        return redirect_with(request, safe_next(back, "/alerts"), "flash.incident.taken")
    return redirect_with(request, f"/incidents/{incident.id}", "flash.incident.created", n=len(found))


@router.post("/incidents/{incident_id}/transition")
async def transition(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    to: Short,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Short = "",
) -> Response:
    check_csrf(request, csrf)
    _write(actor)
    try:
        data = TransitionIn(to=IncidentStatus(to), reason=reason.strip() or None)
    except (ValueError, ValidationError) as e:
        raise HTTPException(400, "transition") from e
    change = service.transition(session, actor, incident_id, data)
    return await _attempt(request, _back(incident_id), f"flash.incident.moved.{data.to.value}", change)


@router.post("/incidents/{incident_id}/edit")
async def edit(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    title: Annotated[str, Form(max_length=500)],
    severity: Short,
    category: Annotated[str, Form(max_length=100)] = "other",
    determination: Short = "",
    summary: Long = "",
    serious: Short = "",
    csrf: Short = "",
) -> Response:
    check_csrf(request, csrf)
    _write(actor)
    try:
        patch = IncidentPatch(
            title=title.strip(),
            category=category.strip() or "other",
            severity=Severity(severity),
            determination=Determination(determination) if determination else None,
            summary=summary.strip() or None,
            serious=serious == "on",
        )
    except (ValueError, ValidationError) as e:
        raise HTTPException(422, "incident") from e
    settings: Settings = request.app.state.settings
    change = service.update(session, actor, incident_id, patch, settings.reporting)
    return await _attempt(request, _back(incident_id), "flash.incident.saved", change)


def parse_local(value: str) -> datetime | None:
    """A ``datetime-local`` or ``date`` field, read in the centre's time zone (a date: end of day)."""
    v = value.strip()
    if not v:
        return None
    try:
        at = datetime.fromisoformat(v if "T" in v else v + "T23:59")
    except ValueError as e:
        raise HTTPException(422, "due_at") from e
    return at.replace(tzinfo=i18n.ZONE) if at.tzinfo is None else at
