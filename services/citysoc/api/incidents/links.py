"""Alert groups in incidents: link, unlink, merge one incident into another.

Linking escalates a group (whatever its triage status) and sets its ``incident_id``; the agencies and
systems the group names join the incident's affected ones. A group belongs to at most one incident:
linking one that another incident holds is a conflict (merge the incidents instead). Unlinking puts
the group back in the queue as ``acknowledged``. Merging moves the other incident's groups, agencies,
systems and observables here and dismisses it with ``merged_into_id`` set. Each change is audited on
the incident and on every group it touches.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Invalid, NotFound
from citysoc.api.groups import service as groups
from citysoc.api.incidents.readmodel import links, snapshot
from citysoc.api.incidents.service import audit, get, implied_by_groups, set_links
from citysoc.db import AlertGroup, Incident, Observable
from citysoc.db.base import as_dict
from citysoc.db.enums import GroupStatus, IncidentStatus

GROUP_FIELDS = ("status", "dismiss_reason", "incident_id")


async def lockable_groups(
    session: AsyncSession, actor: Actor, ids: Sequence[int], *, incident_id: int | None
) -> list[AlertGroup]:
    """The groups ``ids`` (locked, in id order), all visible to ``actor`` and free or already in
    ``incident_id``."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    stmt = groups.scope(sa.select(AlertGroup), actor).where(AlertGroup.id.in_(wanted)).order_by(AlertGroup.id)
    found = list(await session.scalars(stmt.with_for_update()))
    if missing := sorted(set(wanted) - {g.id for g in found}):
        raise Invalid(f"no alert group with id(s) {missing}")
    if taken := [g.id for g in found if g.incident_id is not None and g.incident_id != incident_id]:
        raise Conflict(f"alert group(s) {taken} belong to another incident (merge the incidents instead)")
    return found


async def attach(
    session: AsyncSession, actor: Actor, incident: Incident, found: Sequence[AlertGroup]
) -> None:
    """Link ``found`` to ``incident`` and add what they imply to its agencies and systems (the
    caller audits the incident itself)."""
    for g in found:
        if g.incident_id == incident.id:
            continue
        before = as_dict(g, GROUP_FIELDS)
        g.incident_id, g.status, g.dismiss_reason = incident.id, GroupStatus.ESCALATED, None
        await append(
            session, actor, "group.link", "alert_group", g.id, agency=g.agency, before=before,
            after=as_dict(g, GROUP_FIELDS),
        )  # fmt: skip
    agencies, systems = await implied_by_groups(session, found)
    await set_links(session, incident.id, affected=agencies, systems=systems)
    earliest = min((g.first_seen for g in found), default=None)
    if earliest is not None and earliest < incident.detected_at:
        # The clock runs from the first detection of anything in the incident.
        shift = incident.detected_at - earliest
        incident.detected_at, incident.report_due_at = earliest, incident.report_due_at - shift


def _writable(i: Incident) -> None:
    if i.status in (IncidentStatus.CLOSED, IncidentStatus.DISMISSED):
        raise Conflict(f"incident is {i.status.value}: reopen it first")


async def link(session: AsyncSession, actor: Actor, incident_id: int, group_ids: Sequence[int]) -> Incident:
    i = await get(session, actor, incident_id, lock=True)
    _writable(i)
    found = await lockable_groups(session, actor, group_ids, incident_id=i.id)
    before = await snapshot(session, i)
    await attach(session, actor, i, found)
    after = await snapshot(session, i) | {"linked_group_ids": [g.id for g in found]}
    await audit(session, actor, "incident.link_groups", i.id, before, after)
    await session.commit()
    return i


async def unlink(session: AsyncSession, actor: Actor, incident_id: int, group_id: int) -> Incident:
    i = await get(session, actor, incident_id, lock=True)
    _writable(i)
    g = await groups.get(session, actor, group_id, lock=True)
    if g.incident_id != i.id:
        raise NotFound("alert group in this incident")
    before = as_dict(g, GROUP_FIELDS)
    g.incident_id, g.status = None, GroupStatus.ACKNOWLEDGED
    await append(
        session, actor, "group.unlink", "alert_group", g.id, agency=g.agency, before=before,
        after=as_dict(g, GROUP_FIELDS),
    )  # fmt: skip
    await audit(session, actor, "incident.unlink_group", i.id, {"group_id": g.id}, None)
    await session.commit()
    return i


async def merge(session: AsyncSession, actor: Actor, incident_id: int, other_id: int) -> Incident:
    if other_id == incident_id:
        raise Invalid("an incident cannot be merged into itself")
    # Lock both in id order so two opposite merges cannot deadlock.
    first, second = sorted((incident_id, other_id))
    locked = {
        first: await get(session, actor, first, lock=True),
        second: await get(session, actor, second, lock=True),
    }
    i, other = locked[incident_id], locked[other_id]
    _writable(i)
    _writable(other)
    before, other_before = await snapshot(session, i), await snapshot(session, other)
    moved = list(
        await session.scalars(
            sa.select(AlertGroup)
            .where(AlertGroup.incident_id == other.id)
            .order_by(AlertGroup.id)
            .with_for_update()
        )
    )
    await attach(session, actor, i, moved)
    ln = (await links(session, [other.id]))[other.id]
    await set_links(session, i.id, affected=ln.affected, coordinating=ln.coordinating, systems=ln.systems)
    have = {
        (o.kind, o.value)
        for o in await session.scalars(sa.select(Observable).where(Observable.incident_id == i.id))
    }
    for o in await session.scalars(sa.select(Observable).where(Observable.incident_id == other.id)):
        if (o.kind, o.value) not in have:
            o.incident_id = i.id
    if other.detected_at < i.detected_at:
        shift = i.detected_at - other.detected_at
        i.detected_at, i.report_due_at = other.detected_at, i.report_due_at - shift
    reason = f"merged into {i.code}"
    other.status, other.merged_into_id = IncidentStatus.DISMISSED, i.id
    await audit(
        session,
        actor,
        "incident.merged",
        other.id,
        other_before,
        await snapshot(session, other) | {"reason": reason},
    )
    after = await snapshot(session, i) | {
        "merged_incident_id": other.id,
        "moved_group_ids": [g.id for g in moved],
    }
    await audit(session, actor, "incident.merge", i.id, before, after)
    await session.commit()
    return i


async def list_groups(session: AsyncSession, actor: Actor, incident_id: int) -> list[AlertGroup]:
    await get(session, actor, incident_id)
    stmt = groups.scope(sa.select(AlertGroup), actor).where(AlertGroup.incident_id == incident_id)
    return list(await session.scalars(stmt.order_by(AlertGroup.id)))
