"""Incidents: scoped queries, creation (numbered codes), audited edits and transitions.

Scope: an incident is visible to an agency officer when their agency is its lead agency or among its
affected or coordinating agencies; anything else is "not found". Every change appends to the audit
chain under object ``incident/<id>`` (the incident's timeline), with the whole snapshot before and
after.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from citysoc.api.access.actor import Actor
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Invalid, NotFound
from citysoc.api.incidents import lifecycle
from citysoc.api.incidents.models import (
    IncidentIn,
    IncidentPatch,
    TransitionIn,
)
from citysoc.api.incidents.readmodel import AFFECTED, COORDINATING, snapshot
from citysoc.api.paging import SortKey, paginate
from citysoc.core.config import ReportingSettings
from citysoc.db import (
    Agency,
    AlertGroup,
    Incident,
    IncidentAgency,
    IncidentCounter,
    IncidentSystem,
    System,
    Task,
    User,
)
from citysoc.db.enums import IncidentStatus, Severity, TaskStatus

_SEVERITY_RANK = sa.case({s.value: i for i, s in enumerate(Severity)}, value=Incident.severity, else_=0)
SORTS = {
    "detected_at": SortKey(Incident.detected_at, "datetime"),
    "created_at": SortKey(Incident.created_at, "datetime"),
    "report_due_at": SortKey(Incident.report_due_at, "datetime"),
    "severity": SortKey(_SEVERITY_RANK, "int"),
    "id": SortKey(Incident.id, "int"),
}


def visible_to(agency_id: int | None) -> ColumnElement[bool]:
    """Incidents agency ``agency_id`` takes part in (lead, affected or coordinating)."""
    aid = agency_id or 0
    involved = sa.exists().where(IncidentAgency.incident_id == Incident.id, IncidentAgency.agency_id == aid)
    return sa.or_(Incident.lead_agency_id == aid, involved)


def scope[T: Any](stmt: sa.Select[T], actor: Actor) -> sa.Select[T]:
    return stmt.where(visible_to(actor.agency_id)) if actor.scoped else stmt


async def get(session: AsyncSession, actor: Actor, incident_id: int, *, lock: bool = False) -> Incident:
    stmt = scope(sa.select(Incident), actor).where(Incident.id == incident_id)
    row = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
    if row is None:
        raise NotFound("incident")
    return row


async def audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    incident_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await append(session, actor, action, "incident", incident_id, before=before, after=after)


# --- references -------------------------------------------------------------------------------------


async def _check_ids(session: AsyncSession, model: Any, ids: Iterable[int], what: str) -> None:
    wanted = set(ids)
    if not wanted:
        return
    found = set(await session.scalars(sa.select(model.id).where(model.id.in_(wanted))))
    if missing := sorted(wanted - found):
        raise Invalid(f"no {what} with id(s) {missing}")


async def check_assignee(session: AsyncSession, user_id: int | None) -> None:
    if user_id is None:
        return
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise Invalid("assignee must be an active user")


async def set_links(
    session: AsyncSession,
    incident_id: int,
    *,
    affected: Iterable[int] | None = None,
    coordinating: Iterable[int] | None = None,
    systems: Iterable[int] | None = None,
    replace: bool = False,
) -> None:
    """Add (or with ``replace``, set) the incident's agencies and systems (ids already checked)."""
    for role, ids in ((AFFECTED, affected), (COORDINATING, coordinating)):
        if ids is None:
            continue
        wanted = set(ids)
        have = set(
            await session.scalars(
                sa.select(IncidentAgency.agency_id).where(
                    IncidentAgency.incident_id == incident_id, IncidentAgency.role == role
                )
            )
        )
        if replace and (gone := have - wanted):
            await session.execute(
                sa.delete(IncidentAgency).where(
                    IncidentAgency.incident_id == incident_id,
                    IncidentAgency.role == role,
                    IncidentAgency.agency_id.in_(gone),
                )
            )
        session.add_all(
            IncidentAgency(incident_id=incident_id, agency_id=a, role=role) for a in wanted - have
        )
    if systems is not None:
        wanted = set(systems)
        have = set(
            await session.scalars(
                sa.select(IncidentSystem.system_id).where(IncidentSystem.incident_id == incident_id)
            )
        )
        if replace and (gone := have - wanted):
            await session.execute(
                sa.delete(IncidentSystem).where(
                    IncidentSystem.incident_id == incident_id, IncidentSystem.system_id.in_(gone)
                )
            )
        session.add_all(IncidentSystem(incident_id=incident_id, system_id=s) for s in wanted - have)
    await session.flush()


async def implied_by_groups(session: AsyncSession, groups: Sequence[AlertGroup]) -> tuple[set[int], set[int]]:
    """Agencies and systems the groups name (by code), plus the systems' owner agencies."""
    agency_codes = {g.agency for g in groups}
    system_codes = {g.system for g in groups}
    agencies = set(await session.scalars(sa.select(Agency.id).where(Agency.code.in_(agency_codes))))
    systems: set[int] = set()
    for sid, owner in await session.execute(
        sa.select(System.id, System.owner_agency_id).where(System.code.in_(system_codes))
    ):
        systems.add(sid)
        agencies.add(owner)
    return agencies, systems


async def owners_of(session: AsyncSession, system_ids: Iterable[int]) -> set[int]:
    ids = set(system_ids)
    if not ids:
        return set()
    return set(await session.scalars(sa.select(System.owner_agency_id).where(System.id.in_(ids))))


# --- create, edit, move -----------------------------------------------------------------------------


async def next_code(session: AsyncSession, prefix: str, year: int) -> str:
    """The next ``<prefix>-<year>-<nnnn>``; the counter row is locked until the caller commits."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(dialect.insert(IncidentCounter).values(year=year, last=0).on_conflict_do_nothing())
    counter = (
        await session.scalars(
            sa.select(IncidentCounter).where(IncidentCounter.year == year).with_for_update()
        )
    ).one()
    counter.last += 1
    return f"{prefix}-{year}-{counter.last:04d}"


async def create(
    session: AsyncSession, actor: Actor, data: IncidentIn, reporting: ReportingSettings
) -> Incident:
    from citysoc.api.incidents import links as group_links  # links imports this module

    groups = await group_links.lockable_groups(session, actor, data.group_ids, incident_id=None)
    agencies = set(data.affected_agency_ids) | set(data.coordinating_agency_ids)
    agencies |= {data.lead_agency_id} if data.lead_agency_id else set()
    await _check_ids(session, Agency, agencies, "agency")
    await _check_ids(session, System, data.system_ids, "system")
    await check_assignee(session, data.assignee_id)
    now = datetime.now(UTC)
    detected = data.detected_at or (min(g.first_seen for g in groups) if groups else now)
    incident = Incident(
        code=await next_code(session, reporting.code_prefix, now.year),
        title=data.title,
        category=data.category,
        severity=data.severity,
        tlp=data.tlp,
        pap=data.pap,
        status=IncidentStatus.NEW,
        assignee_id=data.assignee_id,
        lead_agency_id=data.lead_agency_id,
        serious=data.serious,
        beyond_capability=data.beyond_capability,
        summary=data.summary,
        detected_at=detected,
        report_due_at=lifecycle.report_due(detected, data.beyond_capability, reporting.initial_report_days),
        created_by=actor.label,
    )
    session.add(incident)
    await session.flush()
    affected = set(data.affected_agency_ids) | await owners_of(session, data.system_ids)
    await set_links(
        session,
        incident.id,
        affected=affected,
        coordinating=data.coordinating_agency_ids,
        systems=data.system_ids,
    )
    await audit(session, actor, "incident.create", incident.id, None, await snapshot(session, incident))
    if groups:
        await group_links.attach(session, actor, incident, groups)
    await session.commit()
    return incident


async def update(
    session: AsyncSession, actor: Actor, incident_id: int, data: IncidentPatch, reporting: ReportingSettings
) -> Incident:
    i = await get(session, actor, incident_id, lock=True)
    given = data.model_fields_set
    for f in ("title", "category", "severity", "tlp", "pap", "serious", "beyond_capability", "detected_at"):
        if f in given and getattr(data, f) is None:
            raise Invalid(f"{f} cannot be null")
    before = await snapshot(session, i)
    agencies = set(data.affected_agency_ids or ()) | set(data.coordinating_agency_ids or ())
    if data.lead_agency_id is not None:
        agencies.add(data.lead_agency_id)
    await _check_ids(session, Agency, agencies, "agency")
    await _check_ids(session, System, data.system_ids or (), "system")
    if "assignee_id" in given:
        await check_assignee(session, data.assignee_id)
    for f in given - {"affected_agency_ids", "coordinating_agency_ids", "system_ids"}:
        setattr(i, f, getattr(data, f))
    if given & {"detected_at", "beyond_capability"}:
        i.report_due_at = lifecycle.report_due(
            i.detected_at, i.beyond_capability, reporting.initial_report_days
        )
    await set_links(
        session,
        i.id,
        affected=data.affected_agency_ids if "affected_agency_ids" in given else None,
        coordinating=data.coordinating_agency_ids if "coordinating_agency_ids" in given else None,
        systems=data.system_ids if "system_ids" in given else None,
        replace=True,
    )
    after = await snapshot(session, i)
    if after != before:
        await audit(session, actor, "incident.update", i.id, before, after)
    await session.commit()
    return i


async def open_mandatory_tasks(session: AsyncSession, incident_id: int) -> int:
    return int(
        await session.scalar(
            sa.select(sa.func.count())
            .select_from(Task)
            .where(Task.incident_id == incident_id, Task.mandatory, Task.status != TaskStatus.DONE)
        )
        or 0
    )


async def transition(session: AsyncSession, actor: Actor, incident_id: int, data: TransitionIn) -> Incident:
    i = await get(session, actor, incident_id, lock=True)
    facts = lifecycle.Facts(i.determination, i.summary, await open_mandatory_tasks(session, i.id))
    try:
        lifecycle.check_transition(i.status, data.to, data.reason, facts)
    except lifecycle.TransitionError as e:
        raise Conflict(str(e)) from e
    before = await snapshot(session, i)
    now = datetime.now(UTC)
    t = lifecycle.stamp(
        i.status, data.to, now, lifecycle.Times(i.acknowledged_at, i.contained_at, i.resolved_at, i.closed_at)
    )
    i.acknowledged_at, i.contained_at, i.resolved_at, i.closed_at = (
        t.acknowledged_at,
        t.contained_at,
        t.resolved_at,
        t.closed_at,
    )
    i.status = data.to
    after = await snapshot(session, i) | ({"reason": data.reason} if data.reason else {})
    await audit(session, actor, "incident.transition", i.id, before, after)
    await session.commit()
    return i


@dataclass(frozen=True, slots=True)
class IncidentFilter:
    status: IncidentStatus | None = None
    severity: Severity | None = None
    category: str | None = None
    agency_id: int | None = None
    assignee_id: int | None = None
    serious: bool | None = None
    open: bool | None = None
    q: str | None = None


async def list_incidents(
    session: AsyncSession, actor: Actor, f: IncidentFilter, *, sort: str, limit: int, cursor: str | None
) -> tuple[Sequence[Incident], str | None]:
    stmt = scope(sa.select(Incident), actor)
    for col, value in (
        (Incident.status, f.status),
        (Incident.severity, f.severity),
        (Incident.category, f.category),
        (Incident.assignee_id, f.assignee_id),
        (Incident.serious, f.serious),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.agency_id is not None:
        stmt = stmt.where(visible_to(f.agency_id))
    if f.open is not None:
        is_open = Incident.status.in_(lifecycle.OPEN_STATES)
        stmt = stmt.where(is_open if f.open else sa.not_(is_open))
    if f.q:
        stmt = stmt.where(
            sa.or_(
                Incident.title.icontains(f.q, autoescape=True), Incident.code.icontains(f.q, autoescape=True)
            )
        )
    return await paginate(
        session, stmt, id_col=Incident.id, keys=SORTS, sort=sort, limit=limit, cursor=cursor
    )
