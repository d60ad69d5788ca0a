"""Information systems: scoped queries and audited changes.

Scope: an agency officer sees the systems their agency owns or operates, and may create, change and
delete only systems their agency owns (and may not give one away to another owner)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Forbidden, Invalid, NotFound, delete_unreferenced
from citysoc.api.paging import SortKey, paginate
from citysoc.api.systems.models import NOT_NULL, SystemIn, SystemPatch, columns
from citysoc.db import Agency, System
from citysoc.db.base import as_dict
from citysoc.db.enums import FunctionClass

FIELDS = tuple(c.name for c in System.__table__.columns if c.name not in ("created_at", "updated_at"))
SORTS = {
    "code": SortKey(System.code, "str"),
    "name": SortKey(System.name, "str"),
    "security_level": SortKey(sa.func.coalesce(System.security_level, 0), "int"),
    "created_at": SortKey(System.created_at, "datetime"),
}


def scope(stmt: sa.Select[System], actor: Actor) -> sa.Select[System]:
    if not actor.scoped:
        return stmt
    return stmt.where(
        sa.or_(System.owner_agency_id == actor.agency_id, System.operator_agency_id == actor.agency_id)
    )


async def get(session: AsyncSession, actor: Actor, system_id: int) -> System:
    row = (await session.scalars(scope(sa.select(System), actor).where(System.id == system_id))).first()
    if row is None:
        raise NotFound("system")
    return row


async def list_systems(
    session: AsyncSession,
    actor: Actor,
    *,
    agency_id: int | None,
    owner_agency_id: int | None,
    security_level: int | None,
    function_class: FunctionClass | None,
    q: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[System], str | None]:
    stmt = scope(sa.select(System), actor)
    if agency_id is not None:
        stmt = stmt.where(sa.or_(System.owner_agency_id == agency_id, System.operator_agency_id == agency_id))
    if owner_agency_id is not None:
        stmt = stmt.where(System.owner_agency_id == owner_agency_id)
    if security_level is not None:
        stmt = stmt.where(System.security_level == security_level)
    if function_class is not None:
        stmt = stmt.where(System.function_class == function_class)
    if q:
        stmt = stmt.where(
            sa.or_(System.code.icontains(q, autoescape=True), System.name.icontains(q, autoescape=True))
        )
    return await paginate(session, stmt, id_col=System.id, keys=SORTS, sort=sort, limit=limit, cursor=cursor)


async def _agency_code(session: AsyncSession, agency_id: int) -> str:
    code = await session.scalar(sa.select(Agency.code).where(Agency.id == agency_id))
    if code is None:
        raise Invalid(f"agency {agency_id} does not exist")
    return code


def _own(actor: Actor, owner_agency_id: int) -> None:
    if actor.scoped and owner_agency_id != actor.agency_id:
        raise Forbidden("agency officers may only manage systems their agency owns")


async def create(session: AsyncSession, actor: Actor, data: SystemIn) -> System:
    _own(actor, data.owner_agency_id)
    if await session.scalar(sa.select(System.id).where(System.code == data.code)) is not None:
        raise Conflict(f"system code {data.code!r} exists")
    owner = await _agency_code(session, data.owner_agency_id)
    await _agency_code(session, data.operator_agency_id)
    row = System(**columns(data.model_dump()))
    session.add(row)
    await session.flush()
    await append(session, actor, "system.create", "system", row.id, agency=owner, after=as_dict(row, FIELDS))
    await session.commit()
    return row


async def update(session: AsyncSession, actor: Actor, system_id: int, data: SystemPatch) -> System:
    row = await get(session, actor, system_id)
    _own(actor, row.owner_agency_id)
    # Given fields only, but a nested object given is dumped whole (it replaces the stored one).
    changes: dict[str, Any] = {k: v for k, v in data.model_dump().items() if k in data.model_fields_set}
    if nulls := sorted(k for k in changes if k in NOT_NULL and changes[k] is None):
        raise Invalid(f"{', '.join(nulls)} cannot be null")
    for k in ("owner_agency_id", "operator_agency_id"):
        if k in changes:
            await _agency_code(session, changes[k])
    _own(actor, changes.get("owner_agency_id", row.owner_agency_id))
    before = as_dict(row, FIELDS)
    for k, v in columns(changes).items():
        setattr(row, k, v)
    after = as_dict(row, FIELDS)
    if after != before:
        owner = await _agency_code(session, row.owner_agency_id)
        await append(
            session, actor, "system.update", "system", row.id, agency=owner, before=before, after=after
        )
    await session.commit()
    return row


async def delete(session: AsyncSession, actor: Actor, system_id: int) -> None:
    row = await get(session, actor, system_id)
    _own(actor, row.owner_agency_id)
    before = as_dict(row, FIELDS)
    owner = await _agency_code(session, row.owner_agency_id)
    await delete_unreferenced(session, row, "system")
    await append(session, actor, "system.delete", "system", system_id, agency=owner, before=before)
    await session.commit()
