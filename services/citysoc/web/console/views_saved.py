"""Saved queue views in the console: the list the queue page offers (each a link to ``/alerts`` with
the view's query re-validated and re-scoped), and the forms that save the current filters, make a view
one's default, share or stop sharing it, and delete it. Everything goes through
``citysoc.api.views.service``, so permissions, visibility and the audit trail are the API's own; the
handlers check the permission first only to answer with the console's error page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session
from citysoc.api.errors import Conflict, Invalid
from citysoc.api.params import IdPath
from citysoc.api.views import filters, service
from citysoc.api.views.models import SavedViewIn, SavedViewPatch
from citysoc.api.views.service import applied_query
from citysoc.db.enums import Action
from citysoc.web.console.render import ConsoleRoute, redirect_with
from citysoc.web.console.session import ConsoleActor, check_csrf, safe_next

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Short = Annotated[str, Form(max_length=200)]
Back = Annotated[str, Form(max_length=2000)]
LISTED = 200


@dataclass(frozen=True, slots=True)
class ViewItem:
    id: int
    name: str
    href: str
    """``/alerts?<query>``: what applying the view means now (see ``applied_query``)."""
    view: filters.ViewKind
    shared: bool
    default: bool
    mine: bool
    owner: str
    editable: bool
    """The actor may rename, share/unshare or delete it."""
    current: bool
    """The queue currently shows exactly this view's filters."""


async def listing(session: AsyncSession, actor: Actor, current: str) -> list[ViewItem]:
    """The views ``actor`` sees, by name (none without ``view.read``)."""
    if not actor.can(Action.VIEW_READ):
        return []
    rows, _ = await service.list_views(session, actor, sort="name", limit=LISTED, cursor=None)
    items = []
    for out, row in zip(await service.outs(session, actor, rows), rows, strict=True):
        query = applied_query(actor, out.query)
        items.append(
            ViewItem(
                id=out.id,
                name=out.name,
                href=f"/alerts?{query}",
                view=out.view,
                shared=out.shared,
                default=out.default,
                mine=out.mine,
                owner=out.owner,
                editable=service.may_edit(actor, row),
                current=query == current,
            )
        )
    return items


def _need(actor: Actor, action: Action) -> None:
    if not actor.can(action) or actor.user_id is None:
        raise HTTPException(403, action.value)


@router.post("/alerts/views")
async def save(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    name: Annotated[str, Form(max_length=100)] = "",
    query: Back = "",
    shared: Short = "",
    default: Short = "",
    csrf: Short = "",
    back: Back = "",
) -> Response:
    """Save the queue's current filters under ``name`` (the actor's own view of that name, if any, is
    replaced). Values the queue does not know are dropped, as applying them would."""
    check_csrf(request, csrf)
    _need(actor, Action.VIEW_WRITE)
    if shared and not actor.can(Action.VIEW_SHARE):
        raise HTTPException(403, Action.VIEW_SHARE.value)
    back_to = safe_next(back, "/alerts")
    clean = filters.parse(query).query()
    try:
        data = SavedViewIn(name=name.strip(), query=clean, shared=bool(shared), default=bool(default))
    except ValidationError:
        return redirect_with(request, back_to, "flash.view.invalid")
    mine = await service.own_named(session, actor, data.name)
    try:
        if mine is None:
            v = await service.create(session, actor, data)
        else:
            patch = SavedViewPatch(query=data.query, shared=data.shared, default=data.default or None)
            v = await service.update(session, actor, mine.id, patch)
    except (Conflict, Invalid):
        return redirect_with(request, back_to, "flash.view.invalid")
    return redirect_with(request, f"/alerts?{applied_query(actor, v.query)}", "flash.view.saved")


@router.post("/alerts/views/{view_id}/default")
async def make_default(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    view_id: IdPath,
    on: Short = "1",
    csrf: Short = "",
    back: Back = "",
) -> Response:
    check_csrf(request, csrf)
    _need(actor, Action.VIEW_WRITE)
    await service.update(session, actor, view_id, SavedViewPatch(default=on == "1"))
    return redirect_with(
        request, safe_next(back, "/alerts"), "flash.view.default" if on == "1" else "flash.view.undefault"
    )


@router.post("/alerts/views/{view_id}/share")
async def share(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    view_id: IdPath,
    on: Short = "1",
    csrf: Short = "",
    back: Back = "",
) -> Response:
    check_csrf(request, csrf)
    _need(actor, Action.VIEW_SHARE if on == "1" else Action.VIEW_WRITE)
    await service.update(session, actor, view_id, SavedViewPatch(shared=on == "1"))
    return redirect_with(
        request, safe_next(back, "/alerts"), "flash.view.shared" if on == "1" else "flash.view.unshared"
    )


@router.post("/alerts/views/{view_id}/delete")
async def delete(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    view_id: IdPath,
    csrf: Short = "",
    back: Back = "",
) -> Response:
    check_csrf(request, csrf)
    _need(actor, Action.VIEW_WRITE)
    await service.delete(session, actor, view_id)
    return redirect_with(request, safe_next(back, "/alerts"), "flash.view.deleted")
