"""``/api/v1/suppressions``: suppression rules with justification, owner and expiry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import Session, require
from citysoc.api.params import Cursor, IdPath, Limit
from citysoc.api.suppressions import service
from citysoc.api.suppressions.models import SuppressionIn, SuppressionOut, SuppressionPage
from citysoc.db import Suppression
from citysoc.db.enums import Action

router = APIRouter(prefix="/api/v1/suppressions", tags=["suppressions"])
Reader = Annotated[Actor, Depends(require(Action.SUPPRESSION_READ))]
Writer = Annotated[Actor, Depends(require(Action.SUPPRESSION_WRITE))]
Sort = Literal["created_at", "-created_at", "expires_at", "-expires_at", "id", "-id"]


async def _out(session: Session, s: Suppression) -> SuppressionOut:
    return service.out(s, await service.held(session, [s.id]), datetime.now(UTC))


@router.get("", response_model=SuppressionPage)
async def list_suppressions(
    _: Reader,
    session: Session,
    active: bool | None = None,
    sort: Sort = "-created_at",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SuppressionPage:
    rows, nxt = await service.list_suppressions(
        session, is_active=active, sort=sort, limit=limit, cursor=cursor
    )
    counts = await service.held(session, [s.id for s in rows])
    now = datetime.now(UTC)
    return SuppressionPage(items=[service.out(s, counts, now) for s in rows], next_cursor=nxt)


@router.post("", response_model=SuppressionOut, status_code=201)
async def create_suppression(actor: Writer, session: Session, body: SuppressionIn) -> SuppressionOut:
    """Create a rule; matching alert groups not held by another rule are marked at once."""
    return await _out(session, await service.create(session, actor, body))


@router.get("/{suppression_id}", response_model=SuppressionOut)
async def get_suppression(_: Reader, session: Session, suppression_id: IdPath) -> SuppressionOut:
    return await _out(session, await service.get(session, suppression_id))


@router.post("/{suppression_id}/revoke", response_model=SuppressionOut)
async def revoke(actor: Writer, session: Session, suppression_id: IdPath) -> SuppressionOut:
    """End the rule now; its groups raise again (unless another active rule matches them)."""
    return await _out(session, await service.revoke(session, actor, suppression_id))
