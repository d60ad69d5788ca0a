"""Saved queue views: per user, optionally shared with the SOC, one default per user; every change is
audited.

Visibility: one's own views, plus (for actors outside agency scope) every shared view. Anything else
is "not found", so ids reveal nothing. Changing a view's name, query or sharing needs its owner, or
``view.manage`` when the view is shared; sharing needs ``view.share``; a config admin token (no user
row) owns no views and has no default. Queries are stored canonical (``filters.parse``); an agency
officer may not save a filter naming another agency (403), and whatever they saved is re-scoped to
their agency when applied anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Forbidden, Invalid, NotFound
from citysoc.api.paging import SortKey, paginate
from citysoc.api.views import filters
from citysoc.api.views.models import SavedViewIn, SavedViewOut, SavedViewPatch
from citysoc.db import SavedView, SavedViewDefault, User
from citysoc.db.base import as_dict
from citysoc.db.enums import Action

FIELDS = ("owner_id", "name", "query", "shared")
MAX_PER_USER = 100
SORTS = {
    "name": SortKey(SavedView.name, "str"),
    "updated_at": SortKey(SavedView.updated_at, "datetime"),
    "id": SortKey(SavedView.id, "int"),
}


def visible(actor: Actor) -> sa.ColumnElement[bool]:
    own = SavedView.owner_id == (actor.user_id or 0)
    return own if actor.scoped else sa.or_(own, SavedView.shared.is_(True))


def may_edit(actor: Actor, v: SavedView) -> bool:
    """Whether ``actor`` may change ``v``'s name, query or sharing, or delete it."""
    if not actor.can(Action.VIEW_WRITE):
        return False
    mine = actor.user_id is not None and v.owner_id == actor.user_id
    return mine or (v.shared and actor.can(Action.VIEW_MANAGE))


def checked_query(actor: Actor, query: str) -> str:
    """The canonical form of ``query``; 422 for unknown keys or values, 403 for an agency officer's
    filter on another agency."""
    got = filters.parse(query)
    if got.problems:
        raise Invalid("query: " + "; ".join(got.problems[:10]))
    agency = got.values.get("agency")
    if actor.scoped and agency is not None and agency != actor.agency_code:
        raise Forbidden("an agency officer's views filter on their own agency only")
    return got.query()


def _audit_agency(actor: Actor) -> str | None:
    return actor.agency_code if actor.scoped else None


async def get(session: AsyncSession, actor: Actor, view_id: int, *, lock: bool = False) -> SavedView:
    stmt = sa.select(SavedView).where(SavedView.id == view_id, visible(actor))
    v = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
    if v is None:
        raise NotFound("saved view")
    return v


async def own_named(session: AsyncSession, actor: Actor, name: str) -> SavedView | None:
    """The caller's own view called ``name``, if any."""
    if actor.user_id is None:
        return None
    stmt = sa.select(SavedView).where(SavedView.owner_id == actor.user_id, SavedView.name == name)
    return (await session.scalars(stmt)).first()


async def list_views(
    session: AsyncSession, actor: Actor, *, sort: str, limit: int, cursor: str | None
) -> tuple[Sequence[SavedView], str | None]:
    stmt = sa.select(SavedView).where(visible(actor))
    return await paginate(
        session, stmt, id_col=SavedView.id, keys=SORTS, sort=sort, limit=limit, cursor=cursor
    )


async def default_id(session: AsyncSession, actor: Actor) -> int | None:
    """The caller's default view, when they still see it."""
    if actor.user_id is None:
        return None
    stmt = (
        sa.select(SavedView.id)
        .join(SavedViewDefault, SavedViewDefault.view_id == SavedView.id)
        .where(SavedViewDefault.user_id == actor.user_id, visible(actor))
    )
    found: int | None = await session.scalar(stmt)
    return found


async def outs(session: AsyncSession, actor: Actor, rows: Sequence[SavedView]) -> list[SavedViewOut]:
    owner_ids = {v.owner_id for v in rows}
    names: dict[int, str] = {}
    if owner_ids:
        found = await session.execute(sa.select(User.id, User.username).where(User.id.in_(owner_ids)))
        names = {int(i): str(n) for i, n in found.all()}
    chosen = await default_id(session, actor)
    return [
        SavedViewOut(
            id=v.id,
            name=v.name,
            query=v.query,
            view=filters.parse(v.query).view,
            shared=v.shared,
            default=v.id == chosen,
            mine=actor.user_id is not None and v.owner_id == actor.user_id,
            owner_id=v.owner_id,
            owner=names.get(v.owner_id, ""),
            created_at=v.created_at,
            updated_at=v.updated_at,
        )
        for v in rows
    ]


def _need_user(actor: Actor) -> int:
    if actor.user_id is None:
        raise Forbidden("a config admin token has no saved views: log in as a user")
    return actor.user_id


async def _choose_default(session: AsyncSession, actor: Actor, v: SavedView, on: bool) -> bool:
    """Make ``v`` the caller's default (or stop it being so); True when something changed."""
    user_id = _need_user(actor)
    row = await session.get(SavedViewDefault, user_id, with_for_update=True)
    before = row.view_id if row is not None else None
    if on and before != v.id:
        if row is None:
            session.add(SavedViewDefault(user_id=user_id, view_id=v.id))
        else:
            row.view_id = v.id
    elif not on and before == v.id and row is not None:
        await session.delete(row)
    else:
        return False
    await append(
        session,
        actor,
        "saved_view.default",
        "saved_view",
        v.id,
        agency=_audit_agency(actor),
        before={"default_view_id": before},
        after={"default_view_id": v.id if on else None},
    )
    return True


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as e:
        await session.rollback()
        raise Conflict("you already have a saved view of that name") from e


async def create(session: AsyncSession, actor: Actor, data: SavedViewIn) -> SavedView:
    user_id = _need_user(actor)
    if not actor.can(Action.VIEW_WRITE):
        raise Forbidden("view.write")
    if data.shared and not actor.can(Action.VIEW_SHARE):
        raise Forbidden("sharing a view needs view.share")
    query = checked_query(actor, data.query)
    count = await session.scalar(
        sa.select(sa.func.count()).select_from(SavedView).where(SavedView.owner_id == user_id)
    )
    if (count or 0) >= MAX_PER_USER:
        raise Conflict(f"at most {MAX_PER_USER} saved views per user: delete some first")
    taken = await session.scalar(
        sa.select(SavedView.id).where(SavedView.owner_id == user_id, SavedView.name == data.name)
    )
    if taken is not None:
        raise Conflict("you already have a saved view of that name")
    v = SavedView(owner_id=user_id, name=data.name, query=query, shared=data.shared)
    session.add(v)
    await _flush(session)
    await append(
        session,
        actor,
        "saved_view.create",
        "saved_view",
        v.id,
        agency=_audit_agency(actor),
        after=as_dict(v, FIELDS),
    )
    if data.default:
        await _choose_default(session, actor, v, True)
    await session.commit()
    return v


async def update(session: AsyncSession, actor: Actor, view_id: int, data: SavedViewPatch) -> SavedView:
    if not actor.can(Action.VIEW_WRITE):
        raise Forbidden("view.write")
    v = await get(session, actor, view_id, lock=True)
    changes: dict[str, object] = {}
    if data.name is not None and data.name != v.name:
        changes["name"] = data.name
    if data.query is not None:
        query = checked_query(actor, data.query)
        if query != v.query:
            changes["query"] = query
    if data.shared is not None and data.shared != v.shared:
        changes["shared"] = data.shared
    if changes:
        if not may_edit(actor, v):
            raise Forbidden("only its owner (or, for a shared view, view.manage) may change a saved view")
        if changes.get("shared") is True and not actor.can(Action.VIEW_SHARE):
            raise Forbidden("sharing a view needs view.share")
        before = as_dict(v, FIELDS)
        for key, value in changes.items():
            setattr(v, key, value)
        await _flush(session)
        if changes.get("shared") is False:
            # Others no longer see it: it stops being their default too.
            await session.execute(
                sa.delete(SavedViewDefault).where(
                    SavedViewDefault.view_id == v.id, SavedViewDefault.user_id != v.owner_id
                )
            )
        await append(
            session,
            actor,
            "saved_view.update",
            "saved_view",
            v.id,
            agency=_audit_agency(actor),
            before=before,
            after=as_dict(v, FIELDS),
        )
    if data.default is not None:
        await _choose_default(session, actor, v, data.default)
    await session.commit()
    await session.refresh(v)
    return v


async def delete(session: AsyncSession, actor: Actor, view_id: int) -> None:
    v = await get(session, actor, view_id, lock=True)
    if not may_edit(actor, v):
        raise Forbidden("only its owner (or, for a shared view, view.manage) may delete a saved view")
    before = as_dict(v, FIELDS)
    await session.execute(sa.delete(SavedViewDefault).where(SavedViewDefault.view_id == v.id))
    await session.delete(v)
    await append(
        session, actor, "saved_view.delete", "saved_view", view_id, agency=_audit_agency(actor), before=before
    )
    await session.commit()


def applied_query(actor: Actor, query: str) -> str:
    """What applying a stored query means now: re-validated (unknown keys and values dropped) and, for
    an agency officer, without any agency filter (the queue scopes them to their agency anyway)."""
    got = filters.parse(query)
    values = dict(got.values)
    if actor.scoped:
        values.pop("agency", None)
    return filters.Cleaned(values, []).query()
