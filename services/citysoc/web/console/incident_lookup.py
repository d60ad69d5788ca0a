"""Finding incidents for the console's incident pickers: a reference an analyst typed (a code such as
``INC-2026-0007``, or a numeric id) resolved within the actor's scope, the recent open incidents a
``<datalist>`` offers, and the codes of the incidents a timeline names.

Everything is scoped like ``citysoc.api.incidents.service.get``: an incident the actor cannot see is
"not found", never distinguishable from one that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.incidents import lifecycle, service
from citysoc.api.params import MAX_ID
from citysoc.db import Incident

_ID = re.compile(r"^#?([0-9]{1,10})$")
_CODE = re.compile(r"^[A-Z][A-Z0-9]{0,9}-[0-9]{4}-[0-9]{1,12}$")
CHOICES = 50


def parse_ref(text: str) -> int | str | None:
    """An incident id (``12``, ``#12``) or code (``inc-2026-0007`` → ``INC-2026-0007``, the form
    ``service.next_code`` gives) from the first word of ``text``, so a datalist entry pasted with its
    title still resolves; ``None`` for anything else (such text never reaches the database)."""
    words = text.split(maxsplit=1)
    if not words:
        return None
    word = words[0].upper()
    if m := _ID.match(word):
        n = int(m.group(1))
        return n if 1 <= n <= MAX_ID else None
    return word if _CODE.match(word) else None


async def resolve(session: AsyncSession, actor: Actor, text: str) -> Incident | None:
    """The incident ``text`` names, if ``actor`` can see it."""
    ref = parse_ref(text)
    if ref is None:
        return None
    stmt = service.scope(sa.select(Incident), actor)
    stmt = stmt.where(Incident.id == ref) if isinstance(ref, int) else stmt.where(Incident.code == ref)
    return (await session.scalars(stmt)).first()


@dataclass(frozen=True, slots=True)
class Choice:
    id: int
    code: str
    title: str


async def open_choices(
    session: AsyncSession, actor: Actor, *, exclude: int | None = None, limit: int = CHOICES
) -> list[Choice]:
    """The most recently created open incidents ``actor`` can see (``exclude`` left out)."""
    stmt = (
        service.scope(sa.select(Incident), actor)
        .with_only_columns(Incident.id, Incident.code, Incident.title)
        .where(Incident.status.in_(lifecycle.OPEN_STATES))
        .order_by(Incident.created_at.desc(), Incident.id.desc())
        .limit(limit)
    )
    if exclude is not None:
        stmt = stmt.where(Incident.id != exclude)
    return [Choice(i, c, t) for i, c, t in (await session.execute(stmt)).all()]


async def codes(session: AsyncSession, actor: Actor, ids: Iterable[int]) -> dict[int, str]:
    """``id -> code`` of those of ``ids`` that ``actor`` can see."""
    wanted = {i for i in ids if 1 <= i <= MAX_ID}
    if not wanted:
        return {}
    stmt = (
        service.scope(sa.select(Incident), actor)
        .with_only_columns(Incident.id, Incident.code)
        .where(Incident.id.in_(wanted))
    )
    return {i: c for i, c in (await session.execute(stmt)).all()}
