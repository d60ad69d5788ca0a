"""Suppression rules: create (applied at once to matching groups), revoke (groups re-evaluated),
list with the groups and alerts each one holds. Feeding re-evaluates a group on every alert, so an
expired rule stops holding a group at its next occurrence. Every change is audited.

Suppression rules span agencies: agency officers have no access to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Invalid, NotFound
from citysoc.api.paging import SortKey, paginate
from citysoc.api.suppressions.matching import Criteria, first_match, matches
from citysoc.api.suppressions.models import SuppressionIn, SuppressionOut
from citysoc.db import AlertGroup, Suppression, User
from citysoc.db.base import as_dict

FIELDS = (
    "name",
    "justification",
    "owner_id",
    "rule_id",
    "agency",
    "system",
    "key",
    "expires_at",
    "revoked_at",
)
MAX_LIFETIME = timedelta(days=366)
SORTS = {
    "created_at": SortKey(Suppression.created_at, "datetime"),
    "expires_at": SortKey(Suppression.expires_at, "datetime"),
    "id": SortKey(Suppression.id, "int"),
}


def active(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Suppression.revoked_at.is_(None), Suppression.expires_at > now)


def criteria(s: Suppression) -> Criteria:
    return Criteria(s.id, s.rule_id, s.agency, s.system, dict(s.key or {}))


async def active_rules(session: AsyncSession, now: datetime) -> list[Criteria]:
    rows = await session.scalars(sa.select(Suppression).where(active(now)).order_by(Suppression.id))
    return [criteria(s) for s in rows]


def apply(groups: Sequence[AlertGroup], rules: Sequence[Criteria]) -> None:
    """Mark each group with its first matching active rule, or unmark it."""
    for g in groups:
        g.suppression_id = first_match(rules, g.rule_id, g.agency, g.system, g.key)


async def _candidates(session: AsyncSession, c: Criteria) -> list[AlertGroup]:
    stmt = sa.select(AlertGroup)
    for col, v in (
        (AlertGroup.rule_id, c.rule_id),
        (AlertGroup.agency, c.agency),
        (AlertGroup.system, c.system),
    ):
        if v is not None:
            stmt = stmt.where(col == v)
    rows = await session.scalars(stmt.order_by(AlertGroup.id).with_for_update())
    return [g for g in rows if matches(c, g.rule_id, g.agency, g.system, g.key)]


async def held(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Per rule id: (groups, alerts) currently marked with it."""
    if not ids:
        return {}
    rows = await session.execute(
        sa.select(
            AlertGroup.suppression_id, sa.func.count(), sa.func.coalesce(sa.func.sum(AlertGroup.count), 0)
        )
        .where(AlertGroup.suppression_id.in_(ids))
        .group_by(AlertGroup.suppression_id)
    )
    return {int(sid): (int(n), int(a)) for sid, n, a in rows if sid is not None}


def out(s: Suppression, counts: dict[int, tuple[int, int]], now: datetime) -> SuppressionOut:
    n, a = counts.get(s.id, (0, 0))
    return SuppressionOut(
        id=s.id,
        name=s.name,
        justification=s.justification,
        owner_id=s.owner_id,
        owner=s.owner,
        rule_id=s.rule_id,
        agency=s.agency,
        system=s.system,
        key={k: str(v) for k, v in (s.key or {}).items()},
        expires_at=s.expires_at,
        revoked_at=s.revoked_at,
        revoked_by=s.revoked_by,
        created_at=s.created_at,
        active=s.revoked_at is None and s.expires_at > now,
        groups=n,
        alerts=a,
    )


async def create(session: AsyncSession, actor: Actor, data: SuppressionIn) -> Suppression:
    now = datetime.now(UTC)
    if data.expires_at <= now:
        raise Invalid("expires_at must be in the future")
    if data.expires_at > now + MAX_LIFETIME:
        raise Invalid(f"a suppression lasts at most {MAX_LIFETIME.days} days: renew it when it expires")
    owner_id = data.owner_id if data.owner_id is not None else actor.user_id
    owner = actor.label
    if owner_id is not None:
        user = await session.get(User, owner_id)
        if user is None or not user.active:
            raise Invalid("owner must be an active user")
        owner = f"user:{user.id}:{user.username}"
    s = Suppression(
        name=data.name,
        justification=data.justification,
        owner_id=owner_id,
        owner=owner,
        rule_id=data.rule_id,
        agency=data.agency,
        system=data.system,
        key=dict(data.key),
        expires_at=data.expires_at,
    )
    session.add(s)
    await session.flush()
    rules = await active_rules(session, now)
    marked = [g for g in await _candidates(session, criteria(s)) if g.suppression_id is None]
    apply(marked, rules)
    after = as_dict(s, FIELDS) | {"marked_group_ids": [g.id for g in marked]}
    await append(session, actor, "suppression.create", "suppression", s.id, agency=s.agency, after=after)
    await session.commit()
    return s


async def get(session: AsyncSession, suppression_id: int, *, lock: bool = False) -> Suppression:
    stmt = sa.select(Suppression).where(Suppression.id == suppression_id)
    s = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
    if s is None:
        raise NotFound("suppression")
    return s


async def revoke(session: AsyncSession, actor: Actor, suppression_id: int) -> Suppression:
    s = await get(session, suppression_id, lock=True)
    if s.revoked_at is not None:
        raise Conflict("already revoked")
    before = as_dict(s, FIELDS)
    now = datetime.now(UTC)
    s.revoked_at, s.revoked_by = now, actor.label
    await session.flush()
    groups = list(
        await session.scalars(
            sa.select(AlertGroup).where(AlertGroup.suppression_id == s.id).with_for_update()
        )
    )
    apply(groups, await active_rules(session, now))
    after = as_dict(s, FIELDS) | {"released_group_ids": [g.id for g in groups if g.suppression_id is None]}
    await append(
        session, actor, "suppression.revoke", "suppression", s.id, agency=s.agency, before=before, after=after
    )
    await session.commit()
    return s


async def list_suppressions(
    session: AsyncSession,
    *,
    is_active: bool | None,
    sort: str,
    limit: int,
    cursor: str | None,
    rule_id: str | None = None,
) -> tuple[Sequence[Suppression], str | None]:
    """A page of suppressions: active, ended (revoked or expired) or both; of one rule id or any."""
    stmt = sa.select(Suppression)
    if is_active is not None:
        cond = active(datetime.now(UTC))
        stmt = stmt.where(cond if is_active else sa.not_(cond))
    if rule_id is not None:
        stmt = stmt.where(Suppression.rule_id == rule_id)
    return await paginate(
        session, stmt, id_col=Suppression.id, keys=SORTS, sort=sort, limit=limit, cursor=cursor
    )
