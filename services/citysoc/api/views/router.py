"""``/api/v1/saved-views``: the caller's saved alert-queue views and those shared with the SOC."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.params import Cursor, IdPath, Limit
from citysoc.api.views import service
from citysoc.api.views.models import SavedViewIn, SavedViewOut, SavedViewPage, SavedViewPatch, ViewSort
from citysoc.db.enums import Action

router = APIRouter(prefix="/api/v1/saved-views", tags=["saved views"])
Reader = Annotated[Actor, Depends(require(Action.VIEW_READ))]
Writer = Annotated[Actor, Depends(require(Action.VIEW_WRITE))]


@router.get("", response_model=SavedViewPage)
async def list_views(
    actor: Reader, session: Session, sort: ViewSort = "name", limit: Limit = 100, cursor: Cursor = None
) -> SavedViewPage:
    """The caller's own views and, unless the caller is agency-scoped, the views shared with the SOC."""
    rows, nxt = await service.list_views(session, actor, sort=sort, limit=limit, cursor=cursor)
    return SavedViewPage(items=await service.outs(session, actor, rows), next_cursor=nxt)


@router.post("", response_model=SavedViewOut, status_code=201)
async def create_view(actor: Writer, session: Session, body: SavedViewIn) -> SavedViewOut:
    """Save a view owned by the caller (409 when they already have one of that name)."""
    v = await service.create(session, actor, body)
    return (await service.outs(session, actor, [v]))[0]


@router.get("/{view_id}", response_model=SavedViewOut)
async def get_view(actor: Reader, session: Session, view_id: IdPath) -> SavedViewOut:
    return (await service.outs(session, actor, [await service.get(session, actor, view_id)]))[0]


@router.patch("/{view_id}", response_model=SavedViewOut)
async def update_view(actor: Writer, session: Session, view_id: IdPath, body: SavedViewPatch) -> SavedViewOut:
    v = await service.update(session, actor, view_id, body)
    return (await service.outs(session, actor, [v]))[0]


@router.delete("/{view_id}", status_code=204)
async def delete_view(actor: Writer, session: Session, view_id: IdPath) -> Response:
    await service.delete(session, actor, view_id)
    return Response(status_code=204)
