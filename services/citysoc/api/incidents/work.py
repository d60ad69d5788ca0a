"""Work on an incident: tasks for agencies, comments, observables, evidence with custody.

Scope: the incident must be visible to the caller (see ``service``). Agency officers see and update
only their own agency's tasks, and only a task's ``status`` and ``note``; they may comment and add
observables and evidence to the incidents they see. Every change is appended to the incident's
timeline (audit object ``incident/<id>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.errors import Conflict, Forbidden, Invalid, NotFound
from citysoc.api.incidents.service import audit, check_assignee, get, set_links
from citysoc.api.incidents.work_models import (
    CommentIn,
    CustodyIn,
    EvidenceIn,
    EvidenceOut,
    ObservableIn,
    TaskIn,
    TaskPatch,
)
from citysoc.api.paging import SortKey, paginate
from citysoc.db import Agency, Comment, CustodyEntry, Evidence, Incident, IncidentAgency, Observable, Task
from citysoc.db.base import as_dict
from citysoc.db.enums import Action, TaskStatus

TASK_FIELDS = ("title", "agency_id", "assignee_id", "due_at", "status", "mandatory", "note", "completed_at")
OFFICER_TASK_FIELDS = frozenset({"status", "note"})
TASK_SORTS = {
    "due_at": SortKey(sa.func.coalesce(Task.due_at, datetime(9999, 1, 1, tzinfo=UTC)), "datetime"),
    "created_at": SortKey(Task.created_at, "datetime"),
    "id": SortKey(Task.id, "int"),
}


def _task_scope(stmt: sa.Select[Task], actor: Actor) -> sa.Select[Task]:
    return stmt.where(Task.agency_id == (actor.agency_id or 0)) if actor.scoped else stmt


async def _agency_exists(session: AsyncSession, agency_id: int) -> None:
    if await session.get(Agency, agency_id) is None:
        raise Invalid(f"no agency with id {agency_id}")


async def _join_agency(session: AsyncSession, incident: Incident, agency_id: int) -> None:
    """A task's agency takes part in the incident (so its officers can reach the task)."""
    involved = await session.scalar(
        sa.select(sa.func.count())
        .select_from(IncidentAgency)
        .where(IncidentAgency.incident_id == incident.id, IncidentAgency.agency_id == agency_id)
    )
    if not involved and incident.lead_agency_id != agency_id:
        await set_links(session, incident.id, coordinating=[agency_id])


async def create_task(session: AsyncSession, actor: Actor, incident_id: int, data: TaskIn) -> Task:
    i = await get(session, actor, incident_id, lock=True)
    await _agency_exists(session, data.agency_id)
    await check_assignee(session, data.assignee_id)
    task = Task(incident_id=i.id, **data.model_dump())
    session.add(task)
    await session.flush()
    await _join_agency(session, i, data.agency_id)
    await audit(
        session, actor, "incident.task.create", i.id, None, {"task_id": task.id} | as_dict(task, TASK_FIELDS)
    )
    await session.commit()
    return task


async def get_task(
    session: AsyncSession, actor: Actor, incident_id: int, task_id: int, *, lock: bool = False
) -> Task:
    await get(session, actor, incident_id)
    stmt = _task_scope(sa.select(Task), actor).where(Task.id == task_id, Task.incident_id == incident_id)
    row = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
    if row is None:
        raise NotFound("task")
    return row


async def update_task(
    session: AsyncSession, actor: Actor, incident_id: int, task_id: int, data: TaskPatch
) -> Task:
    task = await get_task(session, actor, incident_id, task_id, lock=True)
    given = data.model_fields_set
    if not actor.can(Action.INCIDENT_WRITE) and given - OFFICER_TASK_FIELDS:
        raise Forbidden("you may change only a task's status and note")
    for f in ("title", "description", "agency_id", "mandatory", "status", "note"):
        if f in given and getattr(data, f) is None:
            raise Invalid(f"{f} cannot be null")
    if data.agency_id is not None:
        await _agency_exists(session, data.agency_id)
    if "assignee_id" in given:
        await check_assignee(session, data.assignee_id)
    before = as_dict(task, TASK_FIELDS)
    for f in given:
        setattr(task, f, getattr(data, f))
    if "status" in given:
        task.completed_at = datetime.now(UTC) if task.status == TaskStatus.DONE else None
    if data.agency_id is not None:
        incident = await get(session, actor, incident_id)
        await _join_agency(session, incident, data.agency_id)
    after = as_dict(task, TASK_FIELDS)
    if after != before:
        await audit(
            session,
            actor,
            "incident.task.update",
            incident_id,
            {"task_id": task.id} | before,
            {"task_id": task.id} | after,
        )
    await session.commit()
    return task


async def list_tasks(
    session: AsyncSession,
    actor: Actor,
    *,
    incident_id: int | None,
    agency_id: int | None,
    status: TaskStatus | None,
    overdue: bool | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Task], str | None]:
    """Tasks across incidents (``/api/v1/tasks``) or of one incident."""
    stmt = _task_scope(sa.select(Task), actor)
    if incident_id is not None:
        await get(session, actor, incident_id)
        stmt = stmt.where(Task.incident_id == incident_id)
    if agency_id is not None:
        stmt = stmt.where(Task.agency_id == agency_id)
    if status is not None:
        stmt = stmt.where(Task.status == status)
    if overdue is not None:
        late = sa.and_(
            Task.due_at.is_not(None),
            Task.due_at < datetime.now(UTC),
            Task.status.in_([TaskStatus.OPEN, TaskStatus.IN_PROGRESS]),
        )
        stmt = stmt.where(late if overdue else sa.not_(late))
    return await paginate(
        session, stmt, id_col=Task.id, keys=TASK_SORTS, sort=sort, limit=limit, cursor=cursor
    )


# --- comments, observables, evidence -----------------------------------------------------------------


async def add_comment(session: AsyncSession, actor: Actor, incident_id: int, data: CommentIn) -> Comment:
    i = await get(session, actor, incident_id)
    c = Comment(
        incident_id=i.id,
        author=actor.label,
        agency_id=actor.agency_id if actor.scoped else None,
        body=data.body,
    )
    session.add(c)
    await session.flush()
    await audit(session, actor, "incident.comment", i.id, None, {"comment_id": c.id, "body": c.body})
    await session.commit()
    return c


async def comments(session: AsyncSession, actor: Actor, incident_id: int) -> list[Comment]:
    await get(session, actor, incident_id)
    stmt = sa.select(Comment).where(Comment.incident_id == incident_id).order_by(Comment.id)
    return list(await session.scalars(stmt))


OBS_FIELDS = ("kind", "value", "tlp", "description", "first_seen", "last_seen", "sightings")


async def add_observable(
    session: AsyncSession, actor: Actor, incident_id: int, data: ObservableIn
) -> tuple[Observable, bool]:
    """Adds the observable, or counts one more sighting of it (``False``: it was already there)."""
    i = await get(session, actor, incident_id, lock=True)
    o = (
        await session.scalars(
            sa.select(Observable).where(
                Observable.incident_id == i.id, Observable.kind == data.kind, Observable.value == data.value
            )
        )
    ).first()
    created = o is None
    before = None if o is None else as_dict(o, OBS_FIELDS)
    if o is None:
        o = Observable(incident_id=i.id, created_by=actor.label, sightings=1, **data.model_dump())
        session.add(o)
    else:
        o.sightings += 1
        if data.first_seen and (o.first_seen is None or data.first_seen < o.first_seen):
            o.first_seen = data.first_seen
        if data.last_seen and (o.last_seen is None or data.last_seen > o.last_seen):
            o.last_seen = data.last_seen
    await session.flush()
    tag = {"observable_id": o.id}
    await audit(
        session, actor, "incident.observable", i.id, before and tag | before, tag | as_dict(o, OBS_FIELDS)
    )
    await session.commit()
    return o, created


async def observables(session: AsyncSession, actor: Actor, incident_id: int) -> list[Observable]:
    await get(session, actor, incident_id)
    stmt = sa.select(Observable).where(Observable.incident_id == incident_id).order_by(Observable.id)
    return list(await session.scalars(stmt))


async def delete_observable(
    session: AsyncSession, actor: Actor, incident_id: int, observable_id: int
) -> None:
    i = await get(session, actor, incident_id, lock=True)
    o = await session.get(Observable, observable_id)
    if o is None or o.incident_id != i.id:
        raise NotFound("observable")
    before = {"observable_id": o.id} | as_dict(o, OBS_FIELDS)
    await session.delete(o)
    await audit(session, actor, "incident.observable.delete", i.id, before, None)
    await session.commit()


EVIDENCE_FIELDS = ("file_name", "sha256", "size", "acquired_by", "acquired_at", "export_id")


async def _evidence_out(session: AsyncSession, e: Evidence) -> EvidenceOut:
    from citysoc.api.incidents.work_models import CustodyOut

    custody = await session.scalars(
        sa.select(CustodyEntry)
        .where(CustodyEntry.evidence_id == e.id)
        .order_by(CustodyEntry.at, CustodyEntry.id)
    )
    return EvidenceOut(
        id=e.id,
        incident_id=e.incident_id,
        file_name=e.file_name,
        sha256=e.sha256,
        size=e.size,
        description=e.description,
        acquired_by=e.acquired_by,
        acquired_at=e.acquired_at,
        export_id=e.export_id,
        created_by=e.created_by,
        created_at=e.created_at,
        custody=[CustodyOut.model_validate(c) for c in custody],
    )


async def add_evidence(
    session: AsyncSession, actor: Actor, incident_id: int, data: EvidenceIn
) -> EvidenceOut:
    """Records the file and opens its custody log with an ``acquired`` entry."""
    i = await get(session, actor, incident_id)
    e = Evidence(
        incident_id=i.id, created_by=actor.label, **(data.model_dump() | {"sha256": data.sha256.lower()})
    )
    session.add(e)
    await session.flush()
    session.add(
        CustodyEntry(
            evidence_id=e.id,
            at=e.acquired_at,
            action="acquired",
            holder=e.acquired_by,
            recorded_by=actor.label,
        )
    )
    await audit(
        session, actor, "incident.evidence", i.id, None, {"evidence_id": e.id} | as_dict(e, EVIDENCE_FIELDS)
    )
    await session.commit()
    return await _evidence_out(session, e)


async def get_evidence(session: AsyncSession, actor: Actor, incident_id: int, evidence_id: int) -> Evidence:
    await get(session, actor, incident_id)
    e = await session.get(Evidence, evidence_id)
    if e is None or e.incident_id != incident_id:
        raise NotFound("evidence")
    return e


async def evidence_view(
    session: AsyncSession, actor: Actor, incident_id: int, evidence_id: int
) -> EvidenceOut:
    return await _evidence_out(session, await get_evidence(session, actor, incident_id, evidence_id))


async def list_evidence(session: AsyncSession, actor: Actor, incident_id: int) -> list[EvidenceOut]:
    await get(session, actor, incident_id)
    rows = await session.scalars(
        sa.select(Evidence).where(Evidence.incident_id == incident_id).order_by(Evidence.id)
    )
    return [await _evidence_out(session, e) for e in rows.all()]


async def add_custody(
    session: AsyncSession, actor: Actor, incident_id: int, evidence_id: int, data: CustodyIn
) -> EvidenceOut:
    e = await get_evidence(session, actor, incident_id, evidence_id)
    at = data.at or datetime.now(UTC)
    if at < e.acquired_at:
        raise Conflict("a custody entry cannot predate the evidence's acquisition")
    entry = CustodyEntry(
        evidence_id=e.id,
        at=at,
        action=data.action,
        holder=data.holder,
        note=data.note,
        recorded_by=actor.label,
    )
    session.add(entry)
    await session.flush()
    after = {
        "evidence_id": e.id,
        "custody_id": entry.id,
        "action": entry.action,
        "holder": entry.holder,
        "at": at.isoformat(),
    }
    await audit(session, actor, "incident.evidence.custody", incident_id, None, after)
    await session.commit()
    return await _evidence_out(session, e)
