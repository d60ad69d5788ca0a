"""``/api/v1/agencies``: the agency registry (cursor pagination, filters, sort; audited changes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.agencies import service
from citysoc.api.agencies.models import AgencyIn, AgencyOut, AgencyPage, AgencyPatch, AgencySort
from citysoc.api.params import Cursor, IdPath, IdQuery, Limit, Text
from citysoc.db.enums import Action, AgencyKind

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])
Reader = Annotated[Actor, Depends(require(Action.AGENCY_READ))]
Writer = Annotated[Actor, Depends(require(Action.AGENCY_WRITE))]


@router.get("", response_model=AgencyPage)
async def list_agencies(
    actor: Reader,
    session: Session,
    kind: AgencyKind | None = None,
    parent_id: IdQuery = None,
    q: Text = None,
    sort: AgencySort = "code",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> AgencyPage:
    rows, nxt = await service.list_agencies(
        session, actor, kind=kind, parent_id=parent_id, q=q, sort=sort, limit=limit, cursor=cursor
    )
    return AgencyPage(items=[AgencyOut.model_validate(r) for r in rows], next_cursor=nxt)


@router.post("", response_model=AgencyOut, status_code=201)
async def create_agency(actor: Writer, session: Session, body: AgencyIn) -> AgencyOut:
    return AgencyOut.model_validate(await service.create(session, actor, body))


@router.get("/{agency_id}", response_model=AgencyOut)
async def get_agency(actor: Reader, session: Session, agency_id: IdPath) -> AgencyOut:
    return AgencyOut.model_validate(await service.get(session, actor, agency_id))


@router.patch("/{agency_id}", response_model=AgencyOut)
async def update_agency(actor: Writer, session: Session, agency_id: IdPath, body: AgencyPatch) -> AgencyOut:
    return AgencyOut.model_validate(await service.update(session, actor, agency_id, body))


@router.delete("/{agency_id}", status_code=204)
async def delete_agency(actor: Writer, session: Session, agency_id: IdPath) -> Response:
    await service.delete(session, actor, agency_id)
    return Response(status_code=204)
