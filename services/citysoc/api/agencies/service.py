"""Agencies: scoped queries and audited changes.

Scope: an agency officer sees only their own agency, may edit its name and contacts, and may not
create, re-parent, re-kind or delete agencies. Deleting an agency that systems, users or child
agencies reference is refused (409)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.agencies.models import AgencyIn, AgencyPatch
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Forbidden, Invalid, NotFound, delete_unreferenced
from citysoc.api.paging import SortKey, paginate
from citysoc.db import Agency, System, User
from citysoc.db.base import as_dict
from citysoc.db.enums import AgencyKind

FIELDS = ("id", "code", "name", "kind", "parent_id", "contacts")
SORTS = {
    "code": SortKey(Agency.code, "str"),
    "name": SortKey(Agency.name, "str"),
    "created_at": SortKey(Agency.created_at, "datetime"),
}


def scope(stmt: sa.Select[Agency], actor: Actor) -> sa.Select[Agency]:
    return stmt.where(Agency.id == actor.agency_id) if actor.scoped else stmt


async def get(session: AsyncSession, actor: Actor, agency_id: int) -> Agency:
    row = (await session.scalars(scope(sa.select(Agency), actor).where(Agency.id == agency_id))).first()
    if row is None:
        raise NotFound("agency")
    return row


async def list_agencies(
    session: AsyncSession,
    actor: Actor,
    *,
    kind: AgencyKind | None,
    parent_id: int | None,
    q: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Agency], str | None]:
    stmt = scope(sa.select(Agency), actor)
    if kind is not None:
        stmt = stmt.where(Agency.kind == kind)
    if parent_id is not None:
        stmt = stmt.where(Agency.parent_id == parent_id)
    if q:
        stmt = stmt.where(
            sa.or_(Agency.code.icontains(q, autoescape=True), Agency.name.icontains(q, autoescape=True))
        )
    return await paginate(session, stmt, id_col=Agency.id, keys=SORTS, sort=sort, limit=limit, cursor=cursor)


async def _check_parent(session: AsyncSession, agency_id: int | None, parent_id: int | None) -> None:
    """The parent exists and is not the agency itself or one of its descendants."""
    seen: set[int] = set()
    current = parent_id
    while current is not None:
        if current == agency_id or current in seen:
            raise Invalid("parent_id would make a cycle")
        seen.add(current)
        parent = await session.get(Agency, current)
        if parent is None:
            raise Invalid(f"parent agency {current} does not exist")
        current = parent.parent_id


async def create(session: AsyncSession, actor: Actor, data: AgencyIn) -> Agency:
    if actor.scoped:
        raise Forbidden("agency officers may not create agencies")
    if await session.scalar(sa.select(Agency.id).where(Agency.code == data.code)) is not None:
        raise Conflict(f"agency code {data.code!r} exists")
    await _check_parent(session, None, data.parent_id)
    row = Agency(
        code=data.code,
        name=data.name,
        kind=data.kind,
        parent_id=data.parent_id,
        contacts=[c.model_dump() for c in data.contacts],
    )
    session.add(row)
    await session.flush()
    await append(
        session, actor, "agency.create", "agency", row.id, agency=row.code, after=as_dict(row, FIELDS)
    )
    await session.commit()
    return row


async def update(session: AsyncSession, actor: Actor, agency_id: int, data: AgencyPatch) -> Agency:
    row = await get(session, actor, agency_id)
    changes = data.model_dump(exclude_unset=True)
    if actor.scoped and set(changes) - {"name", "contacts"}:
        raise Forbidden("agency officers may change only their agency's name and contacts")
    for k in ("name", "kind", "contacts"):
        if k in changes and changes[k] is None:
            raise Invalid(f"{k} cannot be null")
    if "parent_id" in changes:
        await _check_parent(session, row.id, changes["parent_id"])
    before = as_dict(row, FIELDS)
    for k, v in changes.items():
        setattr(row, k, v)
    after = as_dict(row, FIELDS)
    if after != before:
        await append(
            session, actor, "agency.update", "agency", row.id, agency=row.code, before=before, after=after
        )
    await session.commit()
    return row


async def delete(session: AsyncSession, actor: Actor, agency_id: int) -> None:
    row = await get(session, actor, agency_id)
    if actor.scoped:
        raise Forbidden("agency officers may not delete agencies")
    for model, cols in (
        (Agency, (Agency.parent_id,)),
        (System, (System.owner_agency_id, System.operator_agency_id)),
        (User, (User.agency_id,)),
    ):
        ref = await session.scalar(
            sa.select(sa.func.count()).select_from(model).where(sa.or_(*(c == row.id for c in cols)))
        )
        if ref:
            raise Conflict(f"agency is referenced by {ref} {model.__tablename__}")
    before = as_dict(row, FIELDS)
    await delete_unreferenced(session, row, "agency")
    await append(session, actor, "agency.delete", "agency", agency_id, agency=before["code"], before=before)
    await session.commit()
