"""What both alert-queue views (grouped: alert groups from the case database; flat: single alerts from
the store) share: reading the filters from the query string, the role-aware triage offer, agency
names, and the page context around the list (view switch, saved views, the bulk bar's incident
picker).

The query string is the source of truth: filters are read through ``citysoc.api.views.filters`` (the
same judge that validates saved views), values it does not know are ignored, and an agency officer's
agency filter is never taken from it (their queries are scoped to their own agency).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor
from citysoc.api.groups.triage import TRANSITIONS
from citysoc.api.views import filters
from citysoc.api.views.filters import PAGE_SIZES, RANGES, SORTS, ViewKind
from citysoc.core.alert import LEVELS
from citysoc.db import Agency
from citysoc.db.enums import Action, DismissReason, GroupStatus
from citysoc.web.console import incident_lookup, views_saved

__all__ = ["PAGE_SIZES", "RANGES", "SORTS", "QueueQuery", "allowed", "parse_query", "queue_context"]


@dataclass(frozen=True, slots=True)
class QueueQuery:
    view: ViewKind = "grouped"
    agency: str | None = None
    status: GroupStatus | None = None
    level: str | None = None
    rule: str | None = None
    q: str | None = None
    sort: str = "-last_seen"
    limit: int = filters.DEFAULT_LIMIT
    range: str | None = None
    suppressed: str | None = None
    """``None``: groups held by an active suppression are left out; ``include`` or ``only``."""
    cursor: str | None = None
    canonical: str = "view=grouped"
    """The filters as a canonical query string (what saving this view stores; no cursor)."""

    def held(self) -> bool | None:
        """The groups filter on suppression: raising only (the default), all, or suppressed only."""
        return {None: False, "include": None, "only": True}.get(self.suppressed, False)

    def since(self, now: datetime | None = None) -> datetime | None:
        if self.range is None:
            return None
        return (now or datetime.now(UTC)) - RANGES[self.range]


def parse_query(request: Request, actor: Actor) -> QueueQuery:
    """Filters from the query string; values the queue does not know are ignored, not errors."""
    got = filters.clean(request.query_params.multi_items(), ignore=("cursor", "lang"))
    values = dict(got.values)
    if actor.scoped:
        values.pop("agency", None)
    status = values.get("status")
    cursor = request.query_params.get("cursor", "").strip()[:1000] or None
    return QueueQuery(
        view=got.view,
        agency=values.get("agency"),
        status=GroupStatus(status) if status is not None else None,
        level=values.get("level"),
        rule=values.get("rule"),
        q=values.get("q"),
        sort=values.get("sort", "-last_seen"),
        limit=int(values.get("limit", filters.DEFAULT_LIMIT)),
        range=values.get("range"),
        suppressed=values.get("suppressed"),
        cursor=cursor,
        canonical=filters.Cleaned(values, []).query(),
    )


def switch_url(qq: QueueQuery, to: ViewKind) -> str:
    """The queue in the other view with the filters both views share (the page starts again)."""
    got = filters.parse(qq.canonical)
    keep = filters.FLAT_KEYS if to == "flat" else set(filters.KEYS)
    values = {k: v for k, v in got.values.items() if k in keep} | {"view": to}
    return "/alerts?" + urllib.parse.urlencode({k: values[k] for k in filters.KEYS if k in values})


def allowed(actor: Actor, status: GroupStatus) -> list[GroupStatus]:
    """The transitions this actor may make from ``status`` (none without ``group.triage``)."""
    if not actor.can(Action.GROUP_TRIAGE):
        return []
    order = [GroupStatus.ACKNOWLEDGED, GroupStatus.ESCALATED, GroupStatus.DISMISSED]
    return [s for s in order if s in TRANSITIONS[status]]


async def agency_names(session: AsyncSession, actor: Actor) -> dict[str, str]:
    stmt = sa.select(Agency.code, Agency.name).order_by(Agency.code)
    if actor.scoped:
        stmt = stmt.where(Agency.id == actor.agency_id)
    return {code: name for code, name in (await session.execute(stmt)).all()}


async def queue_context(
    request: Request, actor: Actor, session: AsyncSession, qq: QueueQuery
) -> dict[str, Any]:
    """The context both views' template (``alerts.html``) needs besides the rows."""
    can_triage = actor.can(Action.GROUP_TRIAGE)
    can_open = actor.can(Action.INCIDENT_WRITE)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return {
        "query": qq,
        "here": here,
        "switch": {"grouped": switch_url(qq, "grouped"), "flat": switch_url(qq, "flat")},
        "agencies": await agency_names(session, actor),
        "can_triage": can_triage,
        "can_open": can_open,
        "open_incidents": (
            await incident_lookup.open_choices(session, actor) if can_triage and can_open else []
        ),
        "saved": await views_saved.listing(session, actor, qq.canonical),
        "can_save": actor.can(Action.VIEW_WRITE) and actor.user_id is not None,
        "can_share": actor.can(Action.VIEW_SHARE) and actor.user_id is not None,
        "statuses": list(GroupStatus),
        "levels": list(reversed(LEVELS)),
        "reasons": list(DismissReason),
        "page_sizes": PAGE_SIZES,
        "sorts": SORTS,
        "ranges": list(RANGES),
        "suppressed_choices": filters.SUPPRESSED,
    }
