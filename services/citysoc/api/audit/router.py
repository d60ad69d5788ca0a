"""``/api/v1/audit``: read the audit log (newest first) and verify its hash chain."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.audit import service
from citysoc.api.audit.models import AuditOut, AuditPage, ProblemOut, VerificationOut
from citysoc.api.params import NO_NUL, Instant, Limit
from citysoc.core.event import utc
from citysoc.db import AuditEntry
from citysoc.db.enums import Action

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Short = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]


@router.get("", response_model=AuditPage)
async def list_audit(
    _: Annotated[Actor, Depends(require(Action.AUDIT_READ))],
    session: Session,
    object_type: Short = None,
    object_id: Short = None,
    actor: Short = None,
    action: Short = None,
    since: Instant = None,
    until: Instant = None,
    limit: Limit = 100,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,18}$", description="seq to continue below")
    ] = None,
) -> AuditPage:
    stmt = sa.select(AuditEntry)
    for col, value in (
        (AuditEntry.object_type, object_type),
        (AuditEntry.object_id, object_id),
        (AuditEntry.actor, actor),
        (AuditEntry.action, action),
    ):
        if value is not None:
            stmt = stmt.where(col == value)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= utc(since))
    if until is not None:
        stmt = stmt.where(AuditEntry.at < utc(until))
    if cursor is not None:
        stmt = stmt.where(AuditEntry.seq < int(cursor))
    rows = (await session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit + 1))).all()
    page = rows[:limit]
    nxt = str(page[-1].seq) if len(rows) > limit and page else None
    return AuditPage(items=[AuditOut.model_validate(r) for r in page], next_cursor=nxt)


@router.get("/verify", response_model=VerificationOut)
async def verify(
    _: Annotated[Actor, Depends(require(Action.AUDIT_VERIFY))], session: Session
) -> VerificationOut:
    """Recompute the whole chain; ``problems`` names every row that no longer matches."""
    v = await service.verify(session)
    return VerificationOut(
        ok=v.ok,
        checked=v.checked,
        head_seq=v.head_seq,
        problems=[ProblemOut(seq=p.seq, problem=p.problem) for p in v.problems],
    )
