"""Alert groups: idempotent feeding from alerts, scoped queries, audited triage.

``ingest_alerts`` contract: each alert id counts once, ever (``seen_alerts``), however often the
worker or the alerts topic delivers it; a batch is one transaction, retried on a concurrent insert
of the same group or alert id. Feeding is not audited (it is the pipeline, not a person); every
triage change is.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Forbidden, Invalid, NotFound
from citysoc.api.groups.models import AssignIn, BulkItem, BulkOut, TransitionIn
from citysoc.api.groups.triage import TransitionError, check_transition, fingerprint, group_key, level_rank
from citysoc.api.paging import SortKey, paginate
from citysoc.api.suppressions.service import active, active_rules
from citysoc.api.suppressions.service import apply as apply_suppressions
from citysoc.core.alert import Alert
from citysoc.db import AlertGroup, Database, RolePermission, SeenAlert, Suppression, User
from citysoc.db.base import as_dict
from citysoc.db.enums import Action, DismissReason, GroupStatus

CHUNK = 500
FIELDS = ("status", "dismiss_reason", "assignee_id")
SORTS = {
    "last_seen": SortKey(AlertGroup.last_seen, "datetime"),
    "first_seen": SortKey(AlertGroup.first_seen, "datetime"),
    "count": SortKey(AlertGroup.count, "int"),
    "level": SortKey(AlertGroup.level_rank, "int"),
    "id": SortKey(AlertGroup.id, "int"),
}


@dataclass(frozen=True, slots=True)
class IngestResult:
    new_alerts: int
    duplicates: int
    new_groups: int
    updated_groups: int


def _chunks[T](items: Sequence[T]) -> Iterable[Sequence[T]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, CHUNK)):
        yield chunk


async def _ingest(session: AsyncSession, alerts: Sequence[Alert], key_fields: Sequence[str]) -> IngestResult:
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite opens its transaction only at the first write, so the reads below could see a
        # state another process changes before this one writes (a lost count): lock first.
        await session.execute(sa.text("BEGIN IMMEDIATE"))
    unique: dict[str, Alert] = {}
    for a in alerts:
        unique.setdefault(a.alert_id, a)
    seen: set[str] = set()
    for ids in _chunks(list(unique)):
        seen.update(await session.scalars(sa.select(SeenAlert.alert_id).where(SeenAlert.alert_id.in_(ids))))
    fresh = [a for a in unique.values() if a.alert_id not in seen]
    by_fp: dict[str, list[Alert]] = {}
    keys: dict[str, dict[str, str]] = {}
    for a in fresh:
        key = group_key(a, key_fields)
        fp = fingerprint(a, key)
        by_fp.setdefault(fp, []).append(a)
        keys[fp] = key
    existing: dict[str, AlertGroup] = {}
    for fps in _chunks(sorted(by_fp)):  # sorted: row locks are always taken in the same order
        stmt = sa.select(AlertGroup).where(AlertGroup.fingerprint.in_(fps)).order_by(AlertGroup.fingerprint)
        for locked in await session.scalars(stmt.with_for_update()):
            existing[locked.fingerprint] = locked
    new_groups = 0
    for fp, group_alerts in by_fp.items():
        first = min(a.time for a in group_alerts)
        last = max(a.time for a in group_alerts)
        top = max(group_alerts, key=lambda a: (level_rank(a.level), a.time))
        newest = max(group_alerts, key=lambda a: a.time)
        g = existing.get(fp)
        if g is None:
            new_groups += 1
            g = AlertGroup(
                fingerprint=fp,
                rule_id=newest.rule_id,
                title=newest.title,
                level=top.level,
                level_rank=level_rank(top.level),
                agency=newest.agency,
                system=newest.system,
                key=keys[fp],
                first_seen=first,
                last_seen=last,
                count=len(group_alerts),
                status=GroupStatus.NEW,
            )
            session.add(g)
            existing[fp] = g
        else:
            g.count += len(group_alerts)
            g.first_seen = min(g.first_seen, first)
            if last >= g.last_seen:
                g.last_seen, g.title = last, newest.title
            if level_rank(top.level) > g.level_rank:
                g.level, g.level_rank = top.level, level_rank(top.level)
    # Suppression is decided on every feed, so an expired or revoked rule stops holding the group.
    apply_suppressions([existing[fp] for fp in by_fp], await active_rules(session, datetime.now(UTC)))
    await session.flush()
    session.add_all(
        SeenAlert(alert_id=a.alert_id, group_id=existing[fp].id, detected_at=a.detected_at)
        for fp, group_alerts in by_fp.items()
        for a in group_alerts
    )
    await session.flush()
    return IngestResult(len(fresh), len(alerts) - len(fresh), new_groups, len(by_fp) - new_groups)


async def ingest_alerts(
    db: Database, alerts: Sequence[Alert], key_fields: Sequence[str] = ("host",), attempts: int = 5
) -> IngestResult:
    """Upsert the groups of ``alerts`` (see the module contract); raises after ``attempts`` conflicts."""
    if not alerts:
        return IngestResult(0, 0, 0, 0)
    for attempt in range(attempts):
        async with db.session() as session:
            try:
                result = await _ingest(session, alerts, key_fields)
                await session.commit()
                return result
            except IntegrityError:
                await session.rollback()
                if attempt == attempts - 1:
                    raise
        await asyncio.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


# --- queries and triage -----------------------------------------------------------------------------


def scope(stmt: sa.Select[AlertGroup], actor: Actor) -> sa.Select[AlertGroup]:
    return stmt.where(AlertGroup.agency == (actor.agency_code or "")) if actor.scoped else stmt


async def get(session: AsyncSession, actor: Actor, group_id: int, *, lock: bool = False) -> AlertGroup:
    stmt = scope(sa.select(AlertGroup), actor).where(AlertGroup.id == group_id)
    row = (await session.scalars(stmt.with_for_update() if lock else stmt)).first()
    if row is None:
        raise NotFound("alert group")
    return row


@dataclass(frozen=True, slots=True)
class GroupFilter:
    agency: str | None = None
    system: str | None = None
    rule_id: str | None = None
    level: str | None = None
    min_level: str | None = None
    status: GroupStatus | None = None
    assignee_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    suppressed: bool | None = None


def filtered[T: Any](stmt: sa.Select[T], f: GroupFilter) -> sa.Select[T]:
    """``stmt`` (a select over ``AlertGroup``) narrowed by every filter ``f`` sets."""
    for col, value in (
        (AlertGroup.agency, f.agency),
        (AlertGroup.system, f.system),
        (AlertGroup.rule_id, f.rule_id),
        (AlertGroup.level, f.level),
        (AlertGroup.status, f.status),
        (AlertGroup.assignee_id, f.assignee_id),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if f.min_level is not None:
        stmt = stmt.where(AlertGroup.level_rank >= level_rank(f.min_level))
    if f.since is not None:
        stmt = stmt.where(AlertGroup.last_seen >= f.since)
    if f.until is not None:
        stmt = stmt.where(AlertGroup.last_seen < f.until)
    if f.suppressed is not None:
        held = sa.exists().where(Suppression.id == AlertGroup.suppression_id, active(datetime.now(UTC)))
        stmt = stmt.where(held if f.suppressed else sa.not_(held))
    if f.q:
        stmt = stmt.where(
            sa.or_(
                AlertGroup.title.icontains(f.q, autoescape=True),
                AlertGroup.rule_id.icontains(f.q, autoescape=True),
            )
        )
    return stmt


async def list_groups(
    session: AsyncSession, actor: Actor, f: GroupFilter, *, sort: str, limit: int, cursor: str | None
) -> tuple[Sequence[AlertGroup], str | None]:
    stmt = filtered(scope(sa.select(AlertGroup), actor), f)
    return await paginate(
        session, stmt, id_col=AlertGroup.id, keys=SORTS, sort=sort, limit=limit, cursor=cursor
    )


async def _apply(
    session: AsyncSession, actor: Actor, g: AlertGroup, to: GroupStatus, reason: DismissReason | None
) -> None:
    check_transition(g.status, to, reason)
    before = as_dict(g, FIELDS)
    g.status, g.dismiss_reason = to, reason
    await append(
        session,
        actor,
        "group.transition",
        "alert_group",
        g.id,
        agency=g.agency,
        before=before,
        after=as_dict(g, FIELDS),
    )


async def transition(session: AsyncSession, actor: Actor, group_id: int, data: TransitionIn) -> AlertGroup:
    g = await get(session, actor, group_id, lock=True)
    try:
        await _apply(session, actor, g, data.to, data.reason)
    except TransitionError as e:
        raise Conflict(str(e)) from e
    await session.commit()
    return g


async def bulk_transition(
    session: AsyncSession, actor: Actor, ids: Sequence[int], data: TransitionIn
) -> BulkOut:
    """Each group on its own merits (one result per id, in order); the valid ones change together."""
    wanted = list(dict.fromkeys(ids))
    stmt = scope(sa.select(AlertGroup), actor).where(AlertGroup.id.in_(wanted)).order_by(AlertGroup.id)
    found = {g.id: g for g in await session.scalars(stmt.with_for_update())}
    results: list[BulkItem] = []
    for gid in wanted:
        g = found.get(gid)
        if g is None:
            results.append(BulkItem(id=gid, ok=False, error="no such alert group"))
            continue
        try:
            await _apply(session, actor, g, data.to, data.reason)
            results.append(BulkItem(id=gid, ok=True, status=g.status))
        except TransitionError as e:
            results.append(BulkItem(id=gid, ok=False, status=g.status, error=str(e)))
    await session.commit()
    return BulkOut(changed=sum(r.ok for r in results), results=results)


async def assign(session: AsyncSession, actor: Actor, group_id: int, data: AssignIn) -> AlertGroup:
    """``group.assign`` assigns anyone able to triage; ``group.triage`` alone only oneself (or unassigns
    oneself)."""
    g = await get(session, actor, group_id, lock=True)
    target = data.assignee_id
    if not actor.can(Action.GROUP_ASSIGN):
        mine = actor.user_id is not None and (
            target == actor.user_id or (target is None and g.assignee_id == actor.user_id)
        )
        if not (actor.can(Action.GROUP_TRIAGE) and mine):
            raise Forbidden("you may only assign alert groups to yourself")
    if target is not None:
        user = await session.get(User, target)
        can_triage = user is not None and await session.scalar(
            sa.select(sa.func.count())
            .select_from(RolePermission)
            .where(RolePermission.role == user.role, RolePermission.action == Action.GROUP_TRIAGE.value)
        )
        if user is None or not user.active or not can_triage:
            raise Invalid("assignee must be an active user whose role may triage alert groups")
    before = as_dict(g, FIELDS)
    g.assignee_id = target
    await append(
        session,
        actor,
        "group.assign",
        "alert_group",
        g.id,
        agency=g.agency,
        before=before,
        after=as_dict(g, FIELDS),
    )
    await session.commit()
    return g


async def occurrences(
    session: AsyncSession, actor: Actor, group_id: int, limit: int, before: tuple[datetime, str] | None
) -> list[tuple[str, datetime]]:
    """Alert ids of the group, newest detection first, strictly before the ``before`` cursor."""
    await get(session, actor, group_id)
    stmt = sa.select(SeenAlert.alert_id, SeenAlert.detected_at).where(SeenAlert.group_id == group_id)
    if before is not None:
        at, aid = before
        stmt = stmt.where(
            sa.or_(SeenAlert.detected_at < at, sa.and_(SeenAlert.detected_at == at, SeenAlert.alert_id < aid))
        )
    stmt = stmt.order_by(SeenAlert.detected_at.desc(), SeenAlert.alert_id.desc()).limit(limit)
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]
