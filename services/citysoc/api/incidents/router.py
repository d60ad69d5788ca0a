"""``/api/v1/incidents``: incidents (list, create, edit, transition), their alert groups (link,
unlink, merge), the statutory report clock, and the timeline (the incident's audit entries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from stix2.exceptions import STIXError

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.errors import Conflict
from citysoc.api.groups.models import GroupOut
from citysoc.api.incidents import clock, links, readmodel, service, stix
from citysoc.api.incidents.clock import ClockFilter
from citysoc.api.incidents.models import (
    ClockOut,
    GroupsIn,
    IncidentIn,
    IncidentOut,
    IncidentPage,
    IncidentPatch,
    IncidentSort,
    MergeIn,
    TimelineEntry,
    TimelinePage,
    TransitionIn,
)
from citysoc.api.params import NO_NUL, Cursor, IdPath, IdQuery, Limit, Text
from citysoc.core.config import ReportingSettings, Settings
from citysoc.db import Agency, AuditEntry, Incident, Observable
from citysoc.db.enums import Action, IncidentStatus, Severity

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
Reader = Annotated[Actor, Depends(require(Action.INCIDENT_READ))]
Writer = Annotated[Actor, Depends(require(Action.INCIDENT_WRITE))]


def get_reporting(request: Request) -> ReportingSettings:
    settings: Settings = request.app.state.settings
    return settings.reporting


Reporting = Annotated[ReportingSettings, Depends(get_reporting)]


async def _one(session: AsyncSession, i: Incident) -> IncidentOut:
    return (await readmodel.views(session, [i]))[0]


@router.get("", response_model=IncidentPage)
async def list_incidents(
    actor: Reader,
    session: Session,
    status: IncidentStatus | None = None,
    severity: Severity | None = None,
    category: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    agency_id: IdQuery = None,
    assignee_id: IdQuery = None,
    serious: bool | None = None,
    open: Annotated[bool | None, Query(description="true: not closed or dismissed")] = None,
    q: Text = None,
    sort: IncidentSort = "-detected_at",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> IncidentPage:
    f = service.IncidentFilter(status, severity, category, agency_id, assignee_id, serious, open, q)
    rows, nxt = await service.list_incidents(session, actor, f, sort=sort, limit=limit, cursor=cursor)
    return IncidentPage(items=await readmodel.views(session, rows), next_cursor=nxt)


@router.post("", response_model=IncidentOut, status_code=201)
async def create_incident(
    actor: Writer, session: Session, reporting: Reporting, body: IncidentIn
) -> IncidentOut:
    return await _one(session, await service.create(session, actor, body, reporting))


@router.get("/report-clock", response_model=ClockOut)
async def report_clock(
    actor: Reader,
    session: Session,
    state: Annotated[ClockFilter, Query(description="which incidents to list")] = "pending",
    limit: Limit = 100,
) -> ClockOut:
    """Incidents whose initial report (form 03) is pending: ``due`` (deadline ahead), ``overdue``,
    or both (``pending``), earliest deadline first, with the counts of each."""
    return await clock.pending(session, actor, datetime.now(UTC), state, limit)


@router.get("/{incident_id}", response_model=IncidentOut)
async def get_incident(actor: Reader, session: Session, incident_id: IdPath) -> IncidentOut:
    return await _one(session, await service.get(session, actor, incident_id))


@router.patch("/{incident_id}", response_model=IncidentOut)
async def update_incident(
    actor: Writer, session: Session, reporting: Reporting, incident_id: IdPath, body: IncidentPatch
) -> IncidentOut:
    return await _one(session, await service.update(session, actor, incident_id, body, reporting))


@router.post("/{incident_id}/transition", response_model=IncidentOut)
async def transition(actor: Writer, session: Session, incident_id: IdPath, body: TransitionIn) -> IncidentOut:
    return await _one(session, await service.transition(session, actor, incident_id, body))


@router.get("/{incident_id}/groups", response_model=list[GroupOut])
async def list_groups(actor: Reader, session: Session, incident_id: IdPath) -> list[GroupOut]:
    return [GroupOut.model_validate(g) for g in await links.list_groups(session, actor, incident_id)]


@router.post("/{incident_id}/groups", response_model=IncidentOut)
async def link_groups(actor: Writer, session: Session, incident_id: IdPath, body: GroupsIn) -> IncidentOut:
    return await _one(session, await links.link(session, actor, incident_id, body.group_ids))


@router.delete("/{incident_id}/groups/{group_id}", response_model=IncidentOut)
async def unlink_group(actor: Writer, session: Session, incident_id: IdPath, group_id: IdPath) -> IncidentOut:
    return await _one(session, await links.unlink(session, actor, incident_id, group_id))


@router.post("/{incident_id}/merge", response_model=IncidentOut)
async def merge(actor: Writer, session: Session, incident_id: IdPath, body: MergeIn) -> IncidentOut:
    """Merge incident ``body.incident_id`` into this one (it is dismissed, its groups move here)."""
    return await _one(session, await links.merge(session, actor, incident_id, body.incident_id))


def _visible(actor: Actor, e: AuditEntry) -> bool:
    """Agency officers see the changes to their own agency's tasks only (as they see the tasks)."""
    if not actor.scoped or not e.action.startswith("incident.task."):
        return True
    agencies = {(e.before or {}).get("agency_id"), (e.after or {}).get("agency_id")}
    return actor.agency_id in agencies


@router.get("/{incident_id}/timeline", response_model=TimelinePage)
async def timeline(
    actor: Reader,
    session: Session,
    incident_id: IdPath,
    limit: Limit = 200,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="seq to continue after")
    ] = None,
) -> TimelinePage:
    """Every change to the incident, oldest first, as recorded in the hash-chained audit log (agency
    officers: without other agencies' tasks; a page may then hold fewer than ``limit`` entries)."""
    await service.get(session, actor, incident_id)
    stmt = sa.select(AuditEntry).where(
        AuditEntry.object_type == "incident", AuditEntry.object_id == str(incident_id)
    )
    if cursor is not None:
        stmt = stmt.where(AuditEntry.seq > int(cursor))
    rows = (await session.scalars(stmt.order_by(AuditEntry.seq).limit(limit + 1))).all()
    page = rows[:limit]
    visible = [e for e in page if _visible(actor, e)]
    items = [
        TimelineEntry(
            seq=e.seq, at=e.at, actor=e.actor, action=e.action, before=e.before, after=e.after, hash=e.hash
        )
        for e in visible
    ]
    return TimelinePage(items=items, next_cursor=str(page[-1].seq) if len(rows) > limit and page else None)


@router.get(
    "/{incident_id}/stix",
    response_class=Response,
    responses={200: {"content": {STIX_MEDIA_TYPE: {"schema": {"type": "object"}}}}},
)
async def stix_bundle(actor: Reader, session: Session, reporting: Reporting, incident_id: IdPath) -> Response:
    """The incident as a STIX 2.1 bundle (identities, incident, indicators, observed data,
    sightings, report)."""
    i = await service.get(session, actor, incident_id)
    ln = (await readmodel.links(session, [i.id]))[i.id]
    agency_ids = {*ln.affected, *ln.coordinating, *([i.lead_agency_id] if i.lead_agency_id else [])}
    agencies = list(
        await session.scalars(sa.select(Agency).where(Agency.id.in_(agency_ids)).order_by(Agency.id))
    )
    observables = list(
        await session.scalars(
            sa.select(Observable).where(Observable.incident_id == i.id).order_by(Observable.id)
        )
    )
    try:
        b = stix.bundle(i, agencies, observables, reporting.reporter_organisation, datetime.now(UTC))
    except STIXError as e:
        raise Conflict(f"the incident cannot be expressed in STIX 2.1: {e}") from e
    return Response(b.serialize(), media_type=STIX_MEDIA_TYPE)
