"""Tasks, comments, observables and evidence of an incident, and ``/api/v1/tasks`` (tasks across
incidents: an agency officer's work list)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.incidents import work
from citysoc.api.incidents.work_models import (
    CommentIn,
    CommentOut,
    CustodyIn,
    EvidenceIn,
    EvidenceOut,
    ObservableIn,
    ObservableOut,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
)
from citysoc.api.params import Cursor, IdPath, IdQuery, Limit
from citysoc.db.enums import Action, TaskStatus

router = APIRouter(prefix="/api/v1/incidents/{incident_id}", tags=["incident work"])
tasks_router = APIRouter(prefix="/api/v1/tasks", tags=["incident work"])
Reader = Annotated[Actor, Depends(require(Action.INCIDENT_READ))]
Writer = Annotated[Actor, Depends(require(Action.INCIDENT_WRITE))]
Contributor = Annotated[Actor, Depends(require(Action.INCIDENT_CONTRIBUTE))]
TaskSort = Literal["due_at", "-due_at", "created_at", "-created_at", "id", "-id"]


@tasks_router.get("", response_model=TaskPage)
async def all_tasks(
    actor: Reader,
    session: Session,
    incident_id: IdQuery = None,
    agency_id: IdQuery = None,
    status: TaskStatus | None = None,
    overdue: bool | None = None,
    sort: TaskSort = "due_at",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> TaskPage:
    rows, nxt = await work.list_tasks(
        session,
        actor,
        incident_id=incident_id,
        agency_id=agency_id,
        status=status,
        overdue=overdue,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return TaskPage(items=[TaskOut.model_validate(t) for t in rows], next_cursor=nxt)


@router.get("/tasks", response_model=TaskPage)
async def incident_tasks(
    actor: Reader,
    session: Session,
    incident_id: IdPath,
    status: TaskStatus | None = None,
    sort: TaskSort = "due_at",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> TaskPage:
    rows, nxt = await work.list_tasks(
        session,
        actor,
        incident_id=incident_id,
        agency_id=None,
        status=status,
        overdue=None,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return TaskPage(items=[TaskOut.model_validate(t) for t in rows], next_cursor=nxt)


@router.post("/tasks", response_model=TaskOut, status_code=201)
async def create_task(actor: Writer, session: Session, incident_id: IdPath, body: TaskIn) -> TaskOut:
    return TaskOut.model_validate(await work.create_task(session, actor, incident_id, body))


@router.patch("/tasks/{task_id}", response_model=TaskOut)
async def update_task(
    actor: Contributor, session: Session, incident_id: IdPath, task_id: IdPath, body: TaskPatch
) -> TaskOut:
    return TaskOut.model_validate(await work.update_task(session, actor, incident_id, task_id, body))


@router.get("/comments", response_model=list[CommentOut])
async def comments(actor: Reader, session: Session, incident_id: IdPath) -> list[CommentOut]:
    return [CommentOut.model_validate(c) for c in await work.comments(session, actor, incident_id)]


@router.post("/comments", response_model=CommentOut, status_code=201)
async def add_comment(
    actor: Contributor, session: Session, incident_id: IdPath, body: CommentIn
) -> CommentOut:
    return CommentOut.model_validate(await work.add_comment(session, actor, incident_id, body))


@router.get("/observables", response_model=list[ObservableOut])
async def observables(actor: Reader, session: Session, incident_id: IdPath) -> list[ObservableOut]:
    return [ObservableOut.model_validate(o) for o in await work.observables(session, actor, incident_id)]


@router.post("/observables", response_model=ObservableOut, status_code=201)
async def add_observable(
    actor: Contributor, session: Session, incident_id: IdPath, body: ObservableIn, response: Response
) -> ObservableOut:
    """201 with a new observable; 200 when it was known (one more sighting counted)."""
    o, created = await work.add_observable(session, actor, incident_id, body)
    if not created:
        response.status_code = 200
    return ObservableOut.model_validate(o)


@router.delete("/observables/{observable_id}", status_code=204)
async def delete_observable(
    actor: Writer, session: Session, incident_id: IdPath, observable_id: IdPath
) -> None:
    await work.delete_observable(session, actor, incident_id, observable_id)


@router.get("/evidence", response_model=list[EvidenceOut])
async def list_evidence(actor: Reader, session: Session, incident_id: IdPath) -> list[EvidenceOut]:
    return await work.list_evidence(session, actor, incident_id)


@router.post("/evidence", response_model=EvidenceOut, status_code=201)
async def add_evidence(
    actor: Contributor, session: Session, incident_id: IdPath, body: EvidenceIn
) -> EvidenceOut:
    return await work.add_evidence(session, actor, incident_id, body)


@router.get("/evidence/{evidence_id}", response_model=EvidenceOut)
async def get_evidence(
    actor: Reader, session: Session, incident_id: IdPath, evidence_id: IdPath
) -> EvidenceOut:
    return await work.evidence_view(session, actor, incident_id, evidence_id)


@router.post("/evidence/{evidence_id}/custody", response_model=EvidenceOut, status_code=201)
async def add_custody(
    actor: Contributor, session: Session, incident_id: IdPath, evidence_id: IdPath, body: CustodyIn
) -> EvidenceOut:
    """Append a custody entry (hand-over, storage, examination …); entries are never changed."""
    return await work.add_custody(session, actor, incident_id, evidence_id, body)
