"""Appending to and verifying the audit log (see ``chain`` for the hash)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.audit.chain import ChainChecker, Link, Problem, link_hash
from citysoc.db import AuditEntry, AuditHead


async def append(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str | int,
    *,
    agency: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits with the change it records).
    The head row is locked first, so concurrent appends queue instead of forking the chain."""
    head = (
        await session.execute(sa.select(AuditHead).where(AuditHead.id == 1).with_for_update())
    ).scalar_one()
    link = Link(
        seq=head.seq + 1,
        at=datetime.now(UTC),
        actor=actor.label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        agency=agency,
        before=before,
        after=after,
        prev_hash=head.hash,
    )
    h = link_hash(link)
    entry = AuditEntry(
        seq=link.seq,
        at=link.at,
        actor=link.actor,
        action=action,
        object_type=object_type,
        object_id=link.object_id,
        agency=agency,
        before=before,
        after=after,
        prev_hash=link.prev_hash,
        hash=h,
    )
    session.add(entry)
    head.seq, head.hash = link.seq, h
    return entry


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    checked: int
    head_seq: int
    problems: list[Problem]


def _link(e: AuditEntry) -> Link:
    return Link(
        e.seq,
        e.at,
        e.actor,
        e.action,
        e.object_type,
        e.object_id,
        e.agency,
        e.before,
        e.after,
        e.prev_hash,
        e.hash,
    )


async def _links(session: AsyncSession, page: int) -> AsyncIterator[Link]:
    after = 0
    while True:
        rows = (
            await session.scalars(
                sa.select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(page)
            )
        ).all()
        for e in rows:
            yield _link(e)
        if len(rows) < page:
            return
        after = rows[-1].seq
        session.expunge_all()  # keep memory flat over a long chain


async def verify(session: AsyncSession, page: int = 5000) -> Verification:
    """Recompute the whole chain, page by page."""
    head = (await session.execute(sa.select(AuditHead).where(AuditHead.id == 1))).scalar_one()
    head_seq, head_hash = head.seq, head.hash
    checker = ChainChecker()
    async for link in _links(session, page):
        checker.feed(link)
    problems = checker.finish(head_seq, head_hash)
    return Verification(not problems, checker.checked, head_seq, problems)
