"""The statutory clock (Circular 20/2017): incidents whose initial report is due or overdue, listed
for people and counted for Prometheus.

An incident owes an initial report until one is marked sent (``initial_report_at``), unless it was
dismissed. It is *overdue* from ``report_due_at`` on, *due* before that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.incidents.lifecycle import clock_state
from citysoc.api.incidents.models import ClockItem, ClockOut
from citysoc.api.incidents.service import scope
from citysoc.core import metrics
from citysoc.db import Database, Incident
from citysoc.db.enums import IncidentStatus

ClockFilter = Literal["due", "overdue", "pending"]
_PENDING = sa.and_(Incident.initial_report_at.is_(None), Incident.status != IncidentStatus.DISMISSED)


async def pending(
    session: AsyncSession, actor: Actor, now: datetime, which: ClockFilter, limit: int
) -> ClockOut:
    """Counts of due and overdue incidents visible to ``actor``, and up to ``limit`` of those
    ``which`` selects, the earliest deadline first."""
    base = scope(sa.select(Incident), actor).where(_PENDING)
    overdue_q = Incident.report_due_at <= now
    due_n = await session.scalar(
        scope(sa.select(sa.func.count()).select_from(Incident), actor).where(_PENDING, sa.not_(overdue_q))
    )
    overdue_n = await session.scalar(
        scope(sa.select(sa.func.count()).select_from(Incident), actor).where(_PENDING, overdue_q)
    )
    stmt = base
    if which == "due":
        stmt = stmt.where(sa.not_(overdue_q))
    elif which == "overdue":
        stmt = stmt.where(overdue_q)
    rows = await session.scalars(stmt.order_by(Incident.report_due_at, Incident.id).limit(limit))
    items = [
        ClockItem(
            id=i.id,
            code=i.code,
            title=i.title,
            status=i.status,
            serious=i.serious,
            beyond_capability=i.beyond_capability,
            detected_at=i.detected_at,
            due_at=i.report_due_at,
            state=clock_state(i.status, i.report_due_at, i.initial_report_at, now),
            seconds_left=(i.report_due_at - now).total_seconds(),
        )
        for i in rows
    ]
    return ClockOut(now=now, due=int(due_n or 0), overdue=int(overdue_n or 0), items=items)


async def counts(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """City-wide (due, overdue)."""
    overdue_q = Incident.report_due_at <= now
    row = (
        await session.execute(
            sa.select(
                sa.func.count(sa.case((overdue_q, None), else_=1)),
                sa.func.count(sa.case((overdue_q, 1), else_=None)),
            ).where(_PENDING)
        )
    ).one()
    return int(row[0]), int(row[1])


async def refresh_gauges(db: Database, now: datetime) -> None:
    """Set ``citysoc_incidents_report_due`` and ``…_overdue`` from the database (on each scrape)."""
    async with db.session() as session:
        due, overdue = await counts(session, now)
    metrics.INCIDENTS_REPORT_DUE.set(due)
    metrics.INCIDENTS_REPORT_OVERDUE.set(overdue)
