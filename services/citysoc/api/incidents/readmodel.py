"""The incident read model: its agency, system and group lists, the wire view with the statutory
clock and time metrics, and the audited snapshot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.incidents import lifecycle
from citysoc.api.incidents.models import IncidentOut, ReportClock, TimeMetrics
from citysoc.db import AlertGroup, Incident, IncidentAgency, IncidentSystem
from citysoc.db.base import as_dict
from citysoc.db.enums import IncidentAgencyRole

FIELDS = (
    "code",
    "title",
    "category",
    "severity",
    "tlp",
    "pap",
    "status",
    "assignee_id",
    "lead_agency_id",
    "serious",
    "beyond_capability",
    "determination",
    "summary",
    "merged_into_id",
    "detected_at",
    "acknowledged_at",
    "contained_at",
    "resolved_at",
    "closed_at",
    "report_due_at",
    "initial_report_at",
)
AFFECTED, COORDINATING = IncidentAgencyRole.AFFECTED, IncidentAgencyRole.COORDINATING


@dataclass(slots=True)
class Links:
    affected: list[int]
    coordinating: list[int]
    systems: list[int]
    groups: list[int]


async def links(session: AsyncSession, ids: Sequence[int]) -> dict[int, Links]:
    out = {i: Links([], [], [], []) for i in ids}
    if not ids:
        return out
    rows = await session.execute(
        sa.select(IncidentAgency.incident_id, IncidentAgency.agency_id, IncidentAgency.role)
        .where(IncidentAgency.incident_id.in_(ids))
        .order_by(IncidentAgency.agency_id)
    )
    for iid, aid, role in rows:
        (out[iid].affected if role == AFFECTED else out[iid].coordinating).append(aid)
    for iid, sid in await session.execute(
        sa.select(IncidentSystem.incident_id, IncidentSystem.system_id)
        .where(IncidentSystem.incident_id.in_(ids))
        .order_by(IncidentSystem.system_id)
    ):
        out[iid].systems.append(sid)
    for gid, in_incident in await session.execute(
        sa.select(AlertGroup.id, AlertGroup.incident_id)
        .where(AlertGroup.incident_id.in_(ids))
        .order_by(AlertGroup.id)
    ):
        if in_incident is not None:
            out[in_incident].groups.append(gid)
    return out


def view(i: Incident, ln: Links, now: datetime) -> IncidentOut:
    return IncidentOut(
        id=i.id,
        code=i.code,
        title=i.title,
        category=i.category,
        severity=i.severity,
        tlp=i.tlp,
        pap=i.pap,
        status=i.status,
        assignee_id=i.assignee_id,
        lead_agency_id=i.lead_agency_id,
        affected_agency_ids=ln.affected,
        coordinating_agency_ids=ln.coordinating,
        system_ids=ln.systems,
        group_ids=ln.groups,
        serious=i.serious,
        beyond_capability=i.beyond_capability,
        determination=i.determination,
        summary=i.summary,
        merged_into_id=i.merged_into_id,
        detected_at=i.detected_at,
        acknowledged_at=i.acknowledged_at,
        contained_at=i.contained_at,
        resolved_at=i.resolved_at,
        closed_at=i.closed_at,
        initial_report=ReportClock(
            due_at=i.report_due_at,
            sent_at=i.initial_report_at,
            state=lifecycle.clock_state(i.status, i.report_due_at, i.initial_report_at, now),
        ),
        metrics=TimeMetrics(
            time_to_acknowledge_s=lifecycle.seconds_between(i.detected_at, i.acknowledged_at),
            time_to_contain_s=lifecycle.seconds_between(i.detected_at, i.contained_at),
            time_to_resolve_s=lifecycle.seconds_between(i.detected_at, i.resolved_at),
        ),
        created_by=i.created_by,
        created_at=i.created_at,
        updated_at=i.updated_at,
    )


async def views(session: AsyncSession, rows: Sequence[Incident]) -> list[IncidentOut]:
    ln = await links(session, [r.id for r in rows])
    now = datetime.now(UTC)
    return [view(r, ln[r.id], now) for r in rows]


async def snapshot(session: AsyncSession, i: Incident) -> dict[str, Any]:
    """The audited state: the row's fields plus its agency and system lists."""
    ln = (await links(session, [i.id]))[i.id]
    return as_dict(i, FIELDS) | {
        "affected_agency_ids": ln.affected,
        "coordinating_agency_ids": ln.coordinating,
        "system_ids": ln.systems,
    }
