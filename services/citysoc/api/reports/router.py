"""Incident reports (``/api/v1/incidents/{id}/reports``, ``/api/v1/reports/{id}``) and periodic city
reports (``/api/v1/reports/periodic``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.incidents.router import Reporting
from citysoc.api.params import IdPath
from citysoc.api.reports import periodic, service
from citysoc.api.reports.models import (
    Period,
    PeriodicReport,
    ReportIn,
    ReportOut,
    ReportPatch,
    ReportTransitionIn,
)
from citysoc.db.enums import Action, ReportStatus

incident_reports = APIRouter(prefix="/api/v1/incidents/{incident_id}/reports", tags=["reports"])
router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Reader = Annotated[Actor, Depends(require(Action.REPORT_READ))]
Writer = Annotated[Actor, Depends(require(Action.REPORT_WRITE))]
Approver = Annotated[Actor, Depends(require(Action.REPORT_APPROVE))]
Stats = Annotated[Actor, Depends(require(Action.STATS_READ))]


@incident_reports.get("", response_model=list[ReportOut])
async def list_reports(
    actor: Reader, session: Session, reporting: Reporting, incident_id: IdPath
) -> list[ReportOut]:
    i, rows = await service.list_for(session, actor, incident_id)
    return [service.out(i, r, reporting) for r in rows]


@incident_reports.post("", response_model=ReportOut, status_code=201)
async def create_report(
    actor: Writer, session: Session, reporting: Reporting, incident_id: IdPath, body: ReportIn
) -> ReportOut:
    """Draft a report pre-filled from the registry and the incident (``fields`` override)."""
    i, r = await service.create(session, actor, incident_id, body, reporting)
    return service.out(i, r, reporting)


@router.get(
    "/periodic",
    response_model=PeriodicReport,
    responses={
        200: {
            "description": "The report as JSON (``format=json``), CSV or a printable HTML document",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }
    },
)
async def periodic_report(
    _: Stats,
    session: Session,
    reporting: Reporting,
    year: Annotated[int, Query(ge=2000, le=2999)],
    period: Period = "year",
    format: Literal["json", "csv", "html"] = "json",
) -> Response | PeriodicReport:
    """City-wide numbers for a quarter, half-year or year, by detection time."""
    r = await periodic.build(session, year, period)
    name = f"citysoc-incidents-{year}-{period}"
    if format == "csv":
        return PlainTextResponse(
            periodic.to_csv(r),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "html":
        return HTMLResponse(periodic.to_html(r, reporting.reporter_organisation))
    return r


@router.get("/{report_id}", response_model=ReportOut)
async def get_report(actor: Reader, session: Session, reporting: Reporting, report_id: IdPath) -> ReportOut:
    i, r = await service.get(session, actor, report_id)
    return service.out(i, r, reporting)


@router.get("/{report_id}/document", response_class=PlainTextResponse)
async def document(actor: Reader, session: Session, report_id: IdPath) -> PlainTextResponse:
    """The rendered document, byte for byte what ``sha256`` covers (header ``X-Content-SHA256``)."""
    _, r = await service.get(session, actor, report_id)
    return PlainTextResponse(r.document, headers={"X-Content-SHA256": r.sha256})


@router.patch("/{report_id}", response_model=ReportOut)
async def update_report(
    actor: Writer, session: Session, reporting: Reporting, report_id: IdPath, body: ReportPatch
) -> ReportOut:
    i, r = await service.update(session, actor, report_id, body.fields)
    return service.out(i, r, reporting)


@router.post("/{report_id}/transition", response_model=ReportOut)
async def transition(
    actor: Approver, session: Session, reporting: Reporting, report_id: IdPath, body: ReportTransitionIn
) -> ReportOut:
    i, r = await service.transition(session, actor, report_id, ReportStatus(body.to))
    return service.out(i, r, reporting)
