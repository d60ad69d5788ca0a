"""``/api/v1/systems``: the information system registry (cursor pagination, filters, sort)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.params import Cursor, IdPath, IdQuery, Limit, Text
from citysoc.api.systems import service
from citysoc.api.systems.models import SystemIn, SystemOut, SystemPage, SystemPatch, SystemSort
from citysoc.db.enums import Action, FunctionClass

router = APIRouter(prefix="/api/v1/systems", tags=["systems"])
Reader = Annotated[Actor, Depends(require(Action.SYSTEM_READ))]
Writer = Annotated[Actor, Depends(require(Action.SYSTEM_WRITE))]


@router.get("", response_model=SystemPage)
async def list_systems(
    actor: Reader,
    session: Session,
    agency_id: IdQuery = None,
    owner_agency_id: IdQuery = None,
    security_level: Annotated[int | None, Query(ge=1, le=5)] = None,
    function_class: FunctionClass | None = None,
    q: Text = None,
    sort: SystemSort = "code",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SystemPage:
    rows, nxt = await service.list_systems(
        session,
        actor,
        agency_id=agency_id,
        owner_agency_id=owner_agency_id,
        security_level=security_level,
        function_class=function_class,
        q=q,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return SystemPage(items=[SystemOut.of(r) for r in rows], next_cursor=nxt)


@router.post("", response_model=SystemOut, status_code=201)
async def create_system(actor: Writer, session: Session, body: SystemIn) -> SystemOut:
    return SystemOut.of(await service.create(session, actor, body))


@router.get("/{system_id}", response_model=SystemOut)
async def get_system(actor: Reader, session: Session, system_id: IdPath) -> SystemOut:
    return SystemOut.of(await service.get(session, actor, system_id))


@router.patch("/{system_id}", response_model=SystemOut)
async def update_system(actor: Writer, session: Session, system_id: IdPath, body: SystemPatch) -> SystemOut:
    return SystemOut.of(await service.update(session, actor, system_id, body))


@router.delete("/{system_id}", status_code=204)
async def delete_system(actor: Writer, session: Session, system_id: IdPath) -> Response:
    await service.delete(session, actor, system_id)
    return Response(status_code=204)
