"""Incident reports: drafted pre-filled, edited while a draft, approved (frozen), sent.

``draft -> approved -> sent``; ``approved -> draft`` takes an approval back (to edit again); a sent
report never changes. The rendered document and its SHA-256 are recomputed on every draft change and
fixed from approval on. Marking the first initial report (form 03) sent stops the incident's
statutory clock. An end-of-response report (form 04) needs a resolved or closed incident. Every change
is on the incident's timeline. Scope: the incident's (officers read the reports of their incidents).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.errors import Conflict, Invalid, NotFound
from citysoc.api.incidents import service as incidents
from citysoc.api.reports import forms
from citysoc.api.reports.models import ReportIn, ReportOut
from citysoc.core.config import ReportingSettings
from citysoc.db import Agency, AlertGroup, Incident, IncidentAgency, IncidentSystem, Report, System
from citysoc.db.enums import IncidentStatus, ReportKind, ReportStatus

NEXT: Mapping[ReportStatus, frozenset[ReportStatus]] = {
    ReportStatus.DRAFT: frozenset({ReportStatus.APPROVED}),
    ReportStatus.APPROVED: frozenset({ReportStatus.SENT, ReportStatus.DRAFT}),
    ReportStatus.SENT: frozenset(),
}


def number(i: Incident, r: Report) -> str:
    return f"{i.code}/R{r.number}"


def out(i: Incident, r: Report, reporting: ReportingSettings) -> ReportOut:
    return ReportOut(
        id=r.id,
        incident_id=r.incident_id,
        kind=r.kind,
        number=number(i, r),
        status=r.status,
        fields=r.fields,
        document=r.document,
        sha256=r.sha256,
        subject=forms.subject(reporting.email_subject_prefix, i.code, r.kind, number(i, r)),
        recipients=r.recipients,
        created_by=r.created_by,
        created_at=r.created_at,
        updated_at=r.updated_at,
        approved_by=r.approved_by,
        approved_at=r.approved_at,
        sent_at=r.sent_at,
    )


async def _system(session: AsyncSession, i: Incident, system_id: int | None) -> forms.SystemFacts | None:
    stmt = sa.select(System).join(IncidentSystem, IncidentSystem.system_id == System.id)
    stmt = stmt.where(IncidentSystem.incident_id == i.id)
    if system_id is not None:
        stmt = stmt.where(System.id == system_id)
    s = (await session.scalars(stmt.order_by(System.id).limit(1))).first()
    if s is None:
        if system_id is not None:
            raise Invalid("that system is not one of the incident's")
        return None
    pair = {s.owner_agency_id, s.operator_agency_id}
    names = {
        k: v for k, v in await session.execute(sa.select(Agency.id, Agency.name).where(Agency.id.in_(pair)))
    }
    return forms.SystemFacts(
        name=s.name,
        owner_agency=names[s.owner_agency_id],
        operating_agency=names[s.operator_agency_id],
        security_level=s.security_level,
        security_provider=s.security_provider,
        connectivity_provider=s.connectivity_provider,
        function_class=s.function_class.value,
        addresses=s.addresses,
        domains=s.domains,
        services=s.services,
        security_measures=s.security_measures,
    )


async def _facts(session: AsyncSession, actor: Actor, i: Incident, now: datetime) -> forms.IncidentFacts:
    rules = sorted(
        set(await session.scalars(sa.select(AlertGroup.rule_id).where(AlertGroup.incident_id == i.id)))
    )
    method = "SOC monitoring, detection rules: " + ", ".join(rules) if rules else "reported by hand"
    notified = list(
        await session.scalars(
            sa.select(Agency.name)
            .join(IncidentAgency, IncidentAgency.agency_id == Agency.id)
            .where(IncidentAgency.incident_id == i.id)
            .distinct()
            .order_by(Agency.name)
        )
    )
    reports = list(
        await session.scalars(sa.select(Report).where(Report.incident_id == i.id).order_by(Report.number))
    )
    initial = next((r for r in reports if r.kind == ReportKind.INITIAL and r.sent_at is not None), None)
    return forms.IncidentFacts(
        code=i.code,
        title=i.title,
        summary=i.summary,
        status=i.status.value,
        detected_at=i.detected_at,
        detection_method=method,
        agencies_notified=notified,
        reporter_name=actor.username,
        report_time=now,
        initial_report=(number(i, initial), initial.sent_at) if initial and initial.sent_at else None,
        progress_reports=[number(i, r) for r in reports if r.kind == ReportKind.PROGRESS],
        tlp=i.tlp,
    )


def _check_fields(kind: ReportKind, values: Mapping[str, Any]) -> None:
    if unknown := sorted(set(values) - forms.keys(kind)):
        raise Invalid(f"unknown field(s) for a {kind.value} report: {unknown}")


async def create(
    session: AsyncSession, actor: Actor, incident_id: int, data: ReportIn, reporting: ReportingSettings
) -> tuple[Incident, Report]:
    i = await incidents.get(session, actor, incident_id, lock=True)
    _check_fields(data.kind, data.fields)
    if data.kind == ReportKind.END and i.status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        raise Conflict("an end-of-response report needs a resolved or closed incident")
    now = datetime.now(UTC)
    fields = forms.prefill(
        data.kind, reporting, await _facts(session, actor, i, now), await _system(session, i, data.system_id)
    )
    fields |= data.fields
    n = (
        int(
            await session.scalar(
                sa.select(sa.func.coalesce(sa.func.max(Report.number), 0)).where(Report.incident_id == i.id)
            )
            or 0
        )
        + 1
    )
    r = Report(
        incident_id=i.id,
        kind=data.kind,
        number=n,
        fields=fields,
        recipients=list(reporting.recipients),
        created_by=actor.label,
        document="",
        sha256="",
    )
    r.document = forms.render(data.kind, number(i, r), fields, r.recipients)
    r.sha256 = forms.sha256(r.document)
    session.add(r)
    await session.flush()
    await incidents.audit(
        session,
        actor,
        "incident.report.create",
        i.id,
        None,
        {"report_id": r.id, "kind": r.kind.value, "number": number(i, r), "sha256": r.sha256},
    )
    await session.commit()
    return i, r


async def get(
    session: AsyncSession, actor: Actor, report_id: int, *, lock: bool = False
) -> tuple[Incident, Report]:
    stmt = sa.select(Report).where(Report.id == report_id)
    r = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
    if r is None:
        raise NotFound("report")
    try:
        i = await incidents.get(session, actor, r.incident_id)
    except NotFound:
        raise NotFound("report") from None
    return i, r


async def list_for(session: AsyncSession, actor: Actor, incident_id: int) -> tuple[Incident, list[Report]]:
    i = await incidents.get(session, actor, incident_id)
    rows = await session.scalars(sa.select(Report).where(Report.incident_id == i.id).order_by(Report.number))
    return i, list(rows)


async def update(
    session: AsyncSession, actor: Actor, report_id: int, values: Mapping[str, Any]
) -> tuple[Incident, Report]:
    i, r = await get(session, actor, report_id, lock=True)
    if r.status != ReportStatus.DRAFT:
        raise Conflict(f"the report is {r.status.value}: only drafts change")
    _check_fields(r.kind, values)
    before = {"report_id": r.id, "sha256": r.sha256}
    r.fields = {**r.fields, **values}
    r.document = forms.render(r.kind, number(i, r), r.fields, r.recipients)
    r.sha256 = forms.sha256(r.document)
    await incidents.audit(
        session,
        actor,
        "incident.report.update",
        i.id,
        before,
        {"report_id": r.id, "sha256": r.sha256, "changed": sorted(values)},
    )
    await session.commit()
    return i, r


async def transition(
    session: AsyncSession, actor: Actor, report_id: int, to: ReportStatus
) -> tuple[Incident, Report]:
    i, r = await get(session, actor, report_id, lock=True)
    if to not in NEXT[r.status]:
        raise Conflict(f"cannot go from {r.status.value} to {to.value}")
    before = {"report_id": r.id, "status": r.status.value}
    now = datetime.now(UTC)
    r.status = to
    if to == ReportStatus.APPROVED:
        r.approved_by, r.approved_at = actor.label, now
    elif to == ReportStatus.DRAFT:
        r.approved_by = r.approved_at = None
    else:
        r.sent_at = now
        if r.kind == ReportKind.INITIAL and i.initial_report_at is None:
            locked = await incidents.get(session, actor, i.id, lock=True)
            locked.initial_report_at = now
    after = {"report_id": r.id, "status": to.value, "sha256": r.sha256}
    await incidents.audit(session, actor, "incident.report.transition", i.id, before, after)
    await session.commit()
    return i, r
