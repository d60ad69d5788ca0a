"""Registry pages (agencies; information systems with security level and four-layer status),
monitoring coverage (every registered system: heard from in the last N minutes or not) and the rules
page (loaded and failed rules, hit counts). Scoped like the API: an agency officer sees their agency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request, Response

from citysoc.api.access.deps import Session
from citysoc.api.agencies import service as agencies
from citysoc.api.suppressions import service as suppressions
from citysoc.api.systems import service as systems
from citysoc.core import metrics
from citysoc.core.alert import LEVELS
from citysoc.db import Agency, AlertGroup, Suppression, System
from citysoc.db.enums import Action
from citysoc.detection.engine import Engine
from citysoc.store.base import SourceActivity, Store
from citysoc.web.console.render import ConsoleRoute, render
from citysoc.web.console.session import ConsoleActor

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
MINUTES = (5, 15, 60, 240, 1440)
LAST_SEEN_WINDOW = timedelta(days=7)
"""How far back the registry page looks for a system's sources and last event (rollups by minute)."""
SILENT_AFTER = 15
"""Minutes without an event after which the registry page marks a system silent."""
PAGE = 100


def _cursor(request: Request) -> str | None:
    return request.query_params.get("cursor") or None


def _q(request: Request) -> str | None:
    return request.query_params.get("q", "").strip()[:200] or None


@router.get("/registry/agencies")
async def agencies_page(request: Request, actor: ConsoleActor, session: Session) -> Response:
    if not actor.can(Action.AGENCY_READ):
        raise HTTPException(403, "agency.read")
    q = _q(request)
    try:
        rows, nxt = await agencies.list_agencies(
            session, actor, kind=None, parent_id=None, q=q, sort="code", limit=PAGE, cursor=_cursor(request)
        )
    except HTTPException:
        rows, nxt = await agencies.list_agencies(
            session, actor, kind=None, parent_id=None, q=q, sort="code", limit=PAGE, cursor=None
        )
    parents = {a.id: a.code for a in rows}
    missing = {a.parent_id for a in rows if a.parent_id is not None and a.parent_id not in parents}
    if missing:
        stmt = sa.select(Agency.id, Agency.code).where(Agency.id.in_(missing))
        parents.update({i: c for i, c in (await session.execute(stmt)).all()})
    ctx = {"agencies": rows, "parents": parents, "next_cursor": nxt, "q": q or ""}
    return render(request, "agencies.html", ctx, actor=actor, active="agencies")


async def _codes(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = sa.select(Agency.id, Agency.code).where(Agency.id.in_(ids))
    return {i: c for i, c in (await session.execute(stmt)).all()}


def _level(request: Request) -> int | None:
    v = request.query_params.get("level", "")
    return int(v) if v in {"1", "2", "3", "4", "5"} else None


@router.get("/registry/systems")
async def systems_page(request: Request, actor: ConsoleActor, session: Session) -> Response:
    if not actor.can(Action.SYSTEM_READ):
        raise HTTPException(403, "system.read")
    q, level = _q(request), _level(request)

    async def page(cursor: str | None) -> tuple[Sequence[System], str | None]:
        return await systems.list_systems(
            session,
            actor,
            agency_id=None,
            owner_agency_id=None,
            security_level=level,
            function_class=None,
            q=q,
            sort="code",
            limit=PAGE,
            cursor=cursor,
        )

    try:
        rows, nxt = await page(_cursor(request))
    except HTTPException:
        rows, nxt = await page(None)
    codes = await _codes(session, {s.owner_agency_id for s in rows} | {s.operator_agency_id for s in rows})
    now = datetime.now(UTC)
    scope = actor.agency_code or "" if actor.scoped else None
    store: Store = request.app.state.store
    activity = await asyncio.to_thread(
        store.monitoring, now - LAST_SEEN_WINDOW, now + timedelta(minutes=1), scope
    )
    owned = [(s, codes.get(s.owner_agency_id, "")) for s in rows]
    ctx = {
        "systems": rows,
        "codes": codes,
        "next_cursor": nxt,
        "q": q or "",
        "level": level,
        "seen": {c.code: c for c in coverage(owned, activity, now, SILENT_AFTER, scope) if c.registered},
        "window_days": LAST_SEEN_WINDOW.days,
    }
    return render(request, "systems.html", ctx, actor=actor, active="systems")


@dataclass
class Coverage:
    """One system's coverage: registered (or only seen), what it sent in the window and when last."""

    code: str
    name: str
    agency: str
    registered: bool
    security_level: int | None = None
    log_sources: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    events: int = 0
    errors: int = 0
    last_seen: datetime | None = None
    state: str = "never"


def coverage(
    registered: Sequence[tuple[System, str]],
    activity: Sequence[SourceActivity],
    now: datetime,
    minutes: int,
    agency: str | None,
) -> list[Coverage]:
    """Registered systems (with their owner agency code) joined with store activity by system code;
    systems that sent data but are not registered are listed too (``registered`` False). ``state``:
    ``heard`` (last seen within ``minutes``), ``silent`` (seen before that) or ``never``."""
    rows: dict[str, Coverage] = {
        s.code: Coverage(s.code, s.name, owner, True, s.security_level, list(s.log_sources))
        for s, owner in registered
    }
    for a in activity:
        if agency is not None and a.agency != agency:
            continue
        c = rows.get(a.system) or rows.setdefault(a.system, Coverage(a.system, "", a.agency, False))
        c.events += a.events
        c.errors += a.errors
        if a.source:
            c.sources.add(a.source)
        if a.last_seen is not None and (c.last_seen is None or a.last_seen > c.last_seen):
            c.last_seen = a.last_seen
    cutoff = now - timedelta(minutes=minutes)
    for c in rows.values():
        c.state = "never" if c.last_seen is None else ("heard" if c.last_seen >= cutoff else "silent")
    return sorted(rows.values(), key=lambda c: (c.agency, not c.registered, c.code))


STATES = ("heard", "silent", "never")


def per_agency(rows: Sequence[Coverage]) -> dict[str, dict[str, int]]:
    """Registered systems per agency and state (``heard``/``silent``/``never``), agencies in order;
    systems only seen (not registered) are left out of these counts."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r.registered:
            counts = out.setdefault(r.agency, dict.fromkeys(STATES, 0))
            counts[r.state] += 1
    return dict(sorted(out.items()))


@router.get("/monitoring")
async def monitoring_page(request: Request, actor: ConsoleActor, session: Session) -> Response:
    if not actor.can(Action.SYSTEM_READ):
        raise HTTPException(403, "system.read")
    try:
        minutes = int(request.query_params.get("minutes", "15"))
    except ValueError:
        minutes = 15
    minutes = minutes if minutes in MINUTES else 15
    stmt = systems.scope(sa.select(System), actor).order_by(System.code).limit(5000)
    found = (await session.scalars(stmt)).all()
    codes = await _codes(session, {s.owner_agency_id for s in found})
    now = datetime.now(UTC)
    window = max(timedelta(hours=24), timedelta(minutes=minutes))
    scope = actor.agency_code or "" if actor.scoped else None
    store: Store = request.app.state.store
    activity = await asyncio.to_thread(store.monitoring, now - window, now + timedelta(minutes=1), scope)
    rows = coverage([(s, codes.get(s.owner_agency_id, "")) for s in found], activity, now, minutes, scope)
    summary = {k: sum(1 for r in rows if r.state == k) for k in STATES}
    ctx = {
        "rows": rows,
        "per_agency": per_agency(rows),
        "minutes": minutes,
        "choices": MINUTES,
        "summary": summary,
        "window_h": 24,
    }
    return render(request, "monitoring.html", ctx, actor=actor, active="monitoring")


def load_state(app_state: Any) -> dict[str, Any]:
    """What the process knows of its rules: the live engine when the role put its ``RuleSet`` on
    ``app.state.rules``, else the detection metrics this process exports (counts and failures)."""
    engine = getattr(getattr(app_state, "rules", None), "current", None)
    if isinstance(engine, Engine):
        loaded = [
            {"rule_id": r.rule_id, "title": r.title, "level": r.level, "status": r.status}
            for r in engine.rules
        ]
        failed = [
            {"path": str(e.path), "rule_id": e.rule_id or "", "reason": e.reason} for e in engine.errors
        ]
        return {"engine": True, "loaded": len(loaded), "rules": loaded, "failed": failed}
    failed = [
        dict(sample.labels)
        for family in metrics.RULE_LOAD_ERROR.collect()
        for sample in family.samples
        if sample.value
    ]
    count = metrics.REGISTRY.get_sample_value("citysoc_detection_rules_loaded")
    return {"engine": False, "loaded": int(count or 0), "rules": [], "failed": failed}


async def suppression_counts(session: Session, now: datetime) -> tuple[dict[str, int], dict[str, int], int]:
    """Per rule id: groups held by an active suppression, and active suppressions naming the rule;
    plus the number of active suppressions that name no rule (an agency's or a system's)."""
    held_stmt = (
        sa.select(AlertGroup.rule_id, sa.func.count())
        .join(Suppression, Suppression.id == AlertGroup.suppression_id)
        .where(suppressions.active(now))
        .group_by(AlertGroup.rule_id)
    )
    rules_stmt = (
        sa.select(Suppression.rule_id, sa.func.count())
        .where(suppressions.active(now))
        .group_by(Suppression.rule_id)
    )
    held = {str(r): int(n) for r, n in (await session.execute(held_stmt)).all()}
    per_rule: dict[str, int] = {}
    broad = 0
    for rule_id, n in (await session.execute(rules_stmt)).all():
        if rule_id is None:
            broad += int(n)
        else:
            per_rule[str(rule_id)] = int(n)
    return held, per_rule, broad


@router.get("/rules")
async def rules_page(request: Request, actor: ConsoleActor, session: Session) -> Response:
    if not actor.can(Action.ALERT_READ) or actor.scoped:
        raise HTTPException(403, "alert.read")
    stmt = (
        sa.select(
            AlertGroup.rule_id,
            sa.func.max(AlertGroup.title),
            sa.func.max(AlertGroup.level_rank),
            sa.func.count(),
            sa.func.sum(AlertGroup.count),
            sa.func.max(AlertGroup.last_seen),
        )
        .group_by(AlertGroup.rule_id)
        .order_by(sa.func.sum(AlertGroup.count).desc())
        .limit(1000)
    )
    hits = {
        rid: {
            "rule_id": rid,
            "title": title,
            "level": LEVELS[rank] if 0 <= rank < len(LEVELS) else "",
            "groups": n,
            "hits": int(h or 0),
            "last": last,
        }
        for rid, title, rank, n, h, last in (await session.execute(stmt)).all()
    }
    state = load_state(request.app.state)
    rows = [{**hits.get(r["rule_id"], {"groups": 0, "hits": 0, "last": None}), **r} for r in state["rules"]]
    known = {r["rule_id"] for r in rows}
    rows += [{"status": "", **h} for rid, h in hits.items() if rid not in known]
    rows.sort(key=lambda r: (-int(r.get("hits") or 0), str(r.get("rule_id"))))
    held, per_rule, broad = await suppression_counts(session, datetime.now(UTC))
    for r in rows:
        r["suppressed"], r["suppressions"] = (
            held.get(str(r["rule_id"]), 0),
            per_rule.get(str(r["rule_id"]), 0),
        )
    ctx = {
        "state": state,
        "rows": rows,
        "levels": LEVELS,
        "active_suppressions": sum(per_rule.values()) + broad,
        "broad_suppressions": broad,
        "can_suppressions": actor.can(Action.SUPPRESSION_READ),
    }
    return render(request, "rules.html", ctx, actor=actor, active="rules")
