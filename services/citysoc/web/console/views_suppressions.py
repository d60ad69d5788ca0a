"""Suppressions in the console: the list (active, ended, all; by rule), what each one holds (alert
groups and their occurrences, still stored and counted), creating one with a justification and an
expiry of at most a year, and revoking one.

The create form can be pre-filled from a link (``?rule=&agency=&system=&key=field=value``), which is
how a group page offers "suppress alerts like this". Everything goes through
``citysoc.api.suppressions.service``, so the limits, the re-evaluation of groups and the audit trail
are the API's own. Suppressions span agencies: agency officers have no access (no menu entry, 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import ValidationError

from citysoc.api.access.deps import Session
from citysoc.api.params import IdPath
from citysoc.api.suppressions import service
from citysoc.api.suppressions.models import SuppressionIn
from citysoc.db import Agency
from citysoc.db.enums import Action
from citysoc.web.console import i18n
from citysoc.web.console.render import ConsoleRoute, NavItem, add_nav, redirect_with, render
from citysoc.web.console.session import ConsoleActor, check_csrf

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
add_nav(
    NavItem("suppressions", "/suppressions", "nav.suppressions", lambda a: a.can(Action.SUPPRESSION_READ)),
    "rules",
)
STATES = ("active", "ended", "all")
PAGE = 100
DEFAULT_DAYS = 30
Short = Annotated[str, Form(max_length=200)]


def parse_key(text: str) -> dict[str, str]:
    """``field=value`` pairs, one per line (or ``;``-separated); blank lines ignored.

    Raises ``ValueError`` naming the first line without ``=`` or with an empty field name."""
    pairs: dict[str, str] = {}
    for line in text.replace(";", "\n").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(line.strip())
        pairs[name.strip()] = value.strip()
    return pairs


def key_text(key: dict[str, object]) -> str:
    return "\n".join(f"{k}={v}" for k, v in key.items())


@dataclass(frozen=True, slots=True)
class Draft:
    """The create form's values (from a pre-filling link, or echoed back after a refusal)."""

    name: str = ""
    justification: str = ""
    rule: str = ""
    agency: str = ""
    system: str = ""
    key: str = ""
    expires: str = ""


def _draft(request: Request, now: datetime) -> Draft:
    p = request.query_params
    keys = [k for k in p.getlist("key") if k.strip()]
    default = (now.astimezone(i18n.ZONE) + timedelta(days=DEFAULT_DAYS)).date().isoformat()
    return Draft(
        name=p.get("name", "")[:200],
        rule=p.get("rule", "")[:200],
        agency=p.get("agency", "")[:64],
        system=p.get("system", "")[:128],
        key="\n".join(keys)[:5000],
        expires=default,
    )


def _state(request: Request) -> str:
    v = request.query_params.get("state", "active")
    return v if v in STATES else "active"


@router.get("/suppressions")
async def suppressions_page(request: Request, actor: ConsoleActor, session: Session) -> Response:
    if not actor.can(Action.SUPPRESSION_READ):
        raise HTTPException(403, "suppression.read")
    now = datetime.now(UTC)
    state = _state(request)
    rule = request.query_params.get("rule", "").strip()[:200] or None
    is_active = {"active": True, "ended": False}.get(state)
    rows, more = await service.list_suppressions(
        session, is_active=is_active, sort="expires_at", limit=PAGE, cursor=None, rule_id=rule
    )
    counts = await service.held(session, [s.id for s in rows])
    codes = await session.execute(sa.select(Agency.code, Agency.name).order_by(Agency.code))
    today = now.astimezone(i18n.ZONE).date()
    ctx = {
        "items": [service.out(s, counts, now) for s in rows],
        "state": state,
        "states": STATES,
        "rule": rule or "",
        "draft": _draft(request, now),
        "agencies": dict(codes.all()),
        "can_write": actor.can(Action.SUPPRESSION_WRITE),
        "min_date": (today + timedelta(days=1)).isoformat(),
        "max_date": (today + timedelta(days=service.MAX_LIFETIME.days - 1)).isoformat(),
        "days_left": lambda at: max(0, (at - now).days),
        "truncated": more is not None,
    }
    return render(request, "suppressions.html", ctx, actor=actor, active="suppressions")


def _expiry(value: str) -> datetime:
    """The end of the chosen day in the centre's time zone (a ``date`` field)."""
    try:
        day = datetime.fromisoformat(value.strip()[:10])
    except ValueError as e:
        raise ValueError("expires") from e
    return day.replace(hour=23, minute=59, second=59, tzinfo=i18n.ZONE)


@router.post("/suppressions")
async def create(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    name: Short,
    justification: Annotated[str, Form(max_length=5000)],
    expires: Short,
    rule: Short = "",
    agency: Annotated[str, Form(max_length=64)] = "",
    system: Annotated[str, Form(max_length=128)] = "",
    key: Annotated[str, Form(max_length=5000)] = "",
    csrf: Short = "",
) -> Response:
    """Create a suppression; a refused one (no criteria, too long, bad key lines) returns to the form
    with a message naming what to fix."""
    check_csrf(request, csrf)
    if not actor.can(Action.SUPPRESSION_WRITE):
        raise HTTPException(403, "suppression.write")
    try:
        data = SuppressionIn(
            name=name.strip(),
            justification=justification.strip(),
            rule_id=rule.strip() or None,
            agency=agency.strip() or None,
            system=system.strip() or None,
            key=parse_key(key),
            expires_at=_expiry(expires),
        )
    except (ValueError, ValidationError):
        return redirect_with(request, "/suppressions", "flash.suppression.invalid")
    try:
        s = await service.create(session, actor, data)
    except HTTPException as e:
        if e.status_code not in (409, 422):
            raise
        return redirect_with(request, "/suppressions", "flash.suppression.invalid")
    n, _ = (await service.held(session, [s.id])).get(s.id, (0, 0))
    return redirect_with(request, "/suppressions", "flash.suppression.created", n=n)


@router.post("/suppressions/{suppression_id}/revoke")
async def revoke(
    request: Request, actor: ConsoleActor, session: Session, suppression_id: IdPath, csrf: Short = ""
) -> Response:
    check_csrf(request, csrf)
    if not actor.can(Action.SUPPRESSION_WRITE):
        raise HTTPException(403, "suppression.write")
    try:
        await service.revoke(session, actor, suppression_id)
    except HTTPException as e:
        if e.status_code != 409:
            raise
        return redirect_with(request, "/suppressions", "flash.suppression.already")
    return redirect_with(request, "/suppressions", "flash.suppression.revoked")
