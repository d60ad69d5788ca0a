"""Work on incidents in the console: tasks for agencies (assign with a due date, progress, complete),
an officer's "my tasks" list, observables, evidence and its chain of custody, comments, incident
reports (draft, approve, send, download the rendered document) and the periodic city report page.

Calls ``citysoc.api.incidents.work`` and ``citysoc.api.reports`` with the logged-in actor, so an
agency officer reaches only their agency's tasks and changes only a task's status and note.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import ValidationError

from citysoc.api.access.deps import Session
from citysoc.api.errors import Conflict
from citysoc.api.incidents import service, work
from citysoc.api.incidents.work_models import (
    CommentIn,
    CustodyIn,
    EvidenceIn,
    ObservableIn,
    TaskIn,
    TaskPatch,
)
from citysoc.api.params import IdPath
from citysoc.api.reports import periodic
from citysoc.api.reports import service as reports
from citysoc.api.reports.models import ReportIn
from citysoc.core.config import Settings
from citysoc.db import Incident
from citysoc.db.enums import Action, ObservableKind, ReportKind, ReportStatus, TaskStatus
from citysoc.web.console.render import ConsoleRoute, NavItem, add_nav, flash, redirect, redirect_with, render
from citysoc.web.console.session import ConsoleActor, check_csrf
from citysoc.web.console.views_incidents import _attempt, _back, agency_names, parse_local

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
add_nav(NavItem("tasks", "/tasks", "nav.tasks", lambda a: a.can(Action.INCIDENT_READ)), "incidents")
add_nav(NavItem("reports", "/reports", "nav.reports", lambda a: a.can(Action.STATS_READ)))
Short = Annotated[str, Form(max_length=200)]
Long = Annotated[str, Form(max_length=20000)]
PERIODS = ("q1", "q2", "q3", "q4", "h1", "h2", "year")
FORMATS = ("csv", "html", "json")


def _need(allowed: bool, what: str) -> None:
    if not allowed:
        raise HTTPException(403, what)


def _invalid(e: Exception) -> HTTPException:
    return HTTPException(422, "invalid")


# --- tasks ------------------------------------------------------------------------------------------


@router.post("/incidents/{incident_id}/tasks")
async def create_task(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    title: Annotated[str, Form(max_length=500)],
    agency_id: Annotated[int, Form()],
    due: Short = "",
    mandatory: Short = "",
    description: Long = "",
    csrf: Short = "",
) -> Response:
    check_csrf(request, csrf)
    _need(actor.can(Action.INCIDENT_WRITE), "incident.write")
    try:
        data = TaskIn(
            title=title.strip(),
            agency_id=agency_id,
            due_at=parse_local(due),
            mandatory=mandatory == "on",
            description=description,
        )
    except ValidationError as e:
        raise _invalid(e) from e
    change = work.create_task(session, actor, incident_id, data)
    return await _attempt(request, _back(incident_id, "tasks"), "flash.task.created", change)


@router.post("/incidents/{incident_id}/tasks/{task_id}")
async def update_task(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    task_id: IdPath,
    status: Short,
    note: Long = "",
    csrf: Short = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Move a task (officers: their own agency's), keeping or replacing its note."""
    check_csrf(request, csrf)
    _need(actor.can(Action.INCIDENT_CONTRIBUTE), "incident.contribute")
    try:
        fields: dict[str, object] = {"status": TaskStatus(status)}
        if note.strip():
            fields["note"] = note.strip()
        patch = TaskPatch.model_validate(fields)
    except (ValueError, ValidationError) as e:
        raise _invalid(e) from e
    response = redirect(back if back == "/tasks" else f"/incidents/{incident_id}#tasks")
    change = work.update_task(session, actor, incident_id, task_id, patch)
    return await _attempt(request, response, f"flash.task.{patch.status}", change)


@router.get("/tasks")
async def my_tasks(request: Request, actor: ConsoleActor, session: Session) -> Response:
    """Open tasks (an officer: their agency's; the SOC: everyone's), earliest due first."""
    _need(actor.can(Action.INCIDENT_READ), "incident.read")
    show_all = request.query_params.get("all") == "1"
    rows, _ = await work.list_tasks(
        session,
        actor,
        incident_id=None,
        agency_id=None,
        status=None,
        overdue=None,
        sort="due_at",
        limit=500,
        cursor=None,
    )
    tasks = [t for t in rows if show_all or t.status in (TaskStatus.OPEN, TaskStatus.IN_PROGRESS)]
    ids = {t.incident_id for t in tasks}
    incidents = {
        i.id: i
        for i in await session.scalars(
            service.scope(sa.select(Incident), actor).where(Incident.id.in_(ids or {0}))
        )
    }
    ctx = {
        "tasks": [t for t in tasks if t.incident_id in incidents],
        "incidents": incidents,
        "agencies": await agency_names(session, {t.agency_id for t in tasks}),
        "show_all": show_all,
        "now": datetime.now(UTC),
        "can_contribute": actor.can(Action.INCIDENT_CONTRIBUTE),
    }
    return render(request, "tasks.html", ctx, actor=actor, active="tasks")


# --- observables, evidence, comments ----------------------------------------------------------------


@router.post("/incidents/{incident_id}/observables")
async def add_observable(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    kind: Short,
    value: Annotated[str, Form(max_length=2000)],
    description: Long = "",
    csrf: Short = "",
) -> Response:
    check_csrf(request, csrf)
    _need(actor.can(Action.INCIDENT_CONTRIBUTE), "incident.contribute")
    try:
        data = ObservableIn(kind=ObservableKind(kind), value=value, description=description)
    except (ValueError, ValidationError):
        response = _back(incident_id, "observables")
        flash(request, response, "flash.observable.invalid")
        return response
    change = work.add_observable(session, actor, incident_id, data)
    return await _attempt(request, _back(incident_id, "observables"), "flash.observable.added", change)


@router.post("/incidents/{incident_id}/evidence")
async def add_evidence(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    file_name: Annotated[str, Form(max_length=500)],
    sha256: Short,
    acquired_by: Annotated[str, Form(max_length=300)],
    acquired_at: Short = "",
    description: Long = "",
    csrf: Short = "",
) -> Response:
    check_csrf(request, csrf)
    _need(actor.can(Action.INCIDENT_CONTRIBUTE), "incident.contribute")
    try:
        data = EvidenceIn(
            file_name=file_name.strip(),
            sha256=sha256.strip(),
            acquired_by=acquired_by.strip(),
            acquired_at=parse_local(acquired_at) or datetime.now(UTC),
            description=description,
        )
    except ValidationError:
        response = _back(incident_id, "evidence")
        flash(request, response, "flash.evidence.invalid")
        return response
    change = work.add_evidence(session, actor, incident_id, data)
    return await _attempt(request, _back(incident_id, "evidence"), "flash.evidence.added", change)


@router.post("/incidents/{incident_id}/evidence/{evidence_id}/custody")
async def add_custody(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    evidence_id: IdPath,
    action: Annotated[str, Form(max_length=64)],
    holder: Annotated[str, Form(max_length=300)],
    at: Short = "",
    note: Long = "",
    csrf: Short = "",
) -> Response:
    """Append a custody entry (hand-over, storage, examination ...) to a piece of evidence."""
    check_csrf(request, csrf)
    _need(actor.can(Action.INCIDENT_CONTRIBUTE), "incident.contribute")
    here = f"/incidents/{incident_id}#evidence-{evidence_id}"
    try:
        data = CustodyIn(action=action.strip(), holder=holder.strip(), note=note.strip(), at=parse_local(at))
    except ValidationError:
        return redirect_with(request, here, "flash.custody.invalid")
    try:
        await work.add_custody(session, actor, incident_id, evidence_id, data)
    except Conflict:  # dated before the evidence was acquired
        return redirect_with(request, here, "flash.custody.early")
    return redirect_with(request, here, "flash.custody.added")


@router.post("/incidents/{incident_id}/comments")
async def add_comment(
    request: Request, actor: ConsoleActor, session: Session, incident_id: IdPath, body: Long, csrf: Short = ""
) -> Response:
    check_csrf(request, csrf)
    _need(actor.can(Action.INCIDENT_CONTRIBUTE), "incident.contribute")
    try:
        data = CommentIn(body=body.strip())
    except ValidationError as e:
        raise _invalid(e) from e
    change = work.add_comment(session, actor, incident_id, data)
    return await _attempt(request, _back(incident_id, "comments"), "flash.comment.added", change)


# --- incident reports -------------------------------------------------------------------------------


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post("/incidents/{incident_id}/reports")
async def create_report(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    kind: Short,
    csrf: Short = "",
) -> Response:
    check_csrf(request, csrf)
    _need(actor.can(Action.REPORT_WRITE), "report.write")
    try:
        data = ReportIn(kind=ReportKind(kind))
    except (ValueError, ValidationError) as e:
        raise _invalid(e) from e
    change = reports.create(session, actor, incident_id, data, _settings(request).reporting)
    return await _attempt(request, _back(incident_id, "reports"), "flash.report.created", change)


@router.post("/reports/{report_id}/transition")
async def report_transition(
    request: Request, actor: ConsoleActor, session: Session, report_id: IdPath, to: Short, csrf: Short = ""
) -> Response:
    check_csrf(request, csrf)
    _need(actor.can(Action.REPORT_APPROVE), "report.approve")
    try:
        target = ReportStatus(to)
    except ValueError as e:
        raise _invalid(e) from e
    i, _ = await reports.get(session, actor, report_id)
    change = reports.transition(session, actor, report_id, target)
    return await _attempt(request, _back(i.id, "reports"), f"flash.report.{target.value}", change)


@router.get("/reports/{report_id}/document")
async def report_document(actor: ConsoleActor, session: Session, report_id: IdPath) -> Response:
    """The rendered report, byte for byte what its SHA-256 covers, as a download."""
    _need(actor.can(Action.REPORT_READ), "report.read")
    i, r = await reports.get(session, actor, report_id)
    name = reports.number(i, r).replace("/", "-")
    return PlainTextResponse(
        r.document,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.txt"',
            "X-Content-SHA256": r.sha256,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- periodic reports -------------------------------------------------------------------------------


@router.get("/reports")
async def reports_page(request: Request, actor: ConsoleActor) -> Response:
    _need(actor.can(Action.STATS_READ), "stats.read")
    year = datetime.now(UTC).year
    ctx = {"years": list(range(year, year - 6, -1)), "periods": PERIODS, "formats": FORMATS}
    return render(request, "reports.html", ctx, actor=actor, active="reports")


@router.get("/reports/periodic")
async def periodic_download(
    request: Request, actor: ConsoleActor, session: Session, year: int, period: str, format: str = "csv"
) -> Response:
    _need(actor.can(Action.STATS_READ), "stats.read")
    if not 2000 <= year <= 2999 or period not in PERIODS or format not in FORMATS:
        raise HTTPException(422, "periodic")
    r = await periodic.build(session, year, period)  # type: ignore[arg-type]  # checked against PERIODS
    name = f"citysoc-incidents-{year}-{period}"
    if format == "csv":
        body, media = periodic.to_csv(r), "text/csv; charset=utf-8"
    elif format == "html":
        body = periodic.to_html(r, _settings(request).reporting.reporter_organisation)
        media = "text/html; charset=utf-8"
    else:
        body, media = r.model_dump_json(indent=2), "application/json"
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{format}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
