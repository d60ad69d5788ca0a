"""Incidents by hand and the alert groups in them: open an incident from the list page's form, link
alert groups to an existing incident (the queue's bulk control and the group page post here), unlink a
group from the incident page, and merge another incident into this one.

Form contract of ``POST /incidents/link-groups`` (the alert queue's bulk control relies on it):
``ids`` (repeated alert group ids), ``incident`` (an incident code such as ``INC-2026-0007`` or a
numeric id), ``csrf``, ``back`` (a local path to return to when the link is refused). It answers
with a redirect: to the incident's page on success, else to ``back`` with a flash message saying why
(unknown incident, incident closed, group in another incident, group not found).

Everything goes through ``citysoc.api.incidents`` (scoping, preconditions, the audit trail); the
checks made here only choose the message, the service decides.
"""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError

from citysoc.api.access.deps import Session
from citysoc.api.errors import Conflict, Invalid
from citysoc.api.incidents import lifecycle, links, service
from citysoc.api.incidents.models import IncidentIn
from citysoc.api.params import MAX_ID, IdPath
from citysoc.core.config import Settings
from citysoc.db import AlertGroup
from citysoc.db.enums import Severity
from citysoc.web.console import incident_lookup
from citysoc.web.console.render import ConsoleRoute, redirect_with
from citysoc.web.console.session import ConsoleActor, check_csrf, safe_next
from citysoc.web.console.views_incidents import TLPS, _attempt, _back, _write

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
Short = Annotated[str, Form(max_length=200)]
Back = Annotated[str, Form(max_length=2000)]
MAX_GROUPS = 200
"""As many groups as the API links in one request."""


@router.post("/incidents")
async def create(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    title: Annotated[str, Form(max_length=500)] = "",
    severity: Short = "medium",
    category: Annotated[str, Form(max_length=100)] = "",
    tlp: Short = "TLP:AMBER",
    summary: Annotated[str, Form(max_length=20000)] = "",
    affected: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    csrf: Short = "",
) -> Response:
    """A new incident typed in by an analyst (no alert groups yet); its page is next."""
    check_csrf(request, csrf)
    _write(actor)
    try:
        if tlp not in TLPS:
            raise ValueError(tlp)
        data = IncidentIn(
            title=title.strip(),
            severity=Severity(severity),
            category=category.strip() or "other",
            tlp=tlp,
            summary=summary.strip() or None,
            affected_agency_ids=sorted(set(affected)),
        )
    except (ValueError, ValidationError):
        return redirect_with(request, "/incidents#new", "flash.incident.invalid")
    settings: Settings = request.app.state.settings
    try:
        incident = await service.create(session, actor, data, settings.reporting)
    except Invalid:  # an agency deleted meanwhile
        return redirect_with(request, "/incidents#new", "flash.incident.invalid")
    return redirect_with(request, f"/incidents/{incident.id}", "flash.incident.opened")


@router.post("/incidents/link-groups")
async def link_groups(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    incident: Short = "",
    csrf: Short = "",
    back: Back = "",
) -> Response:
    """Link the groups ``ids`` to the incident ``incident`` names (see the module's contract)."""
    check_csrf(request, csrf)
    _write(actor)
    home = safe_next(back, "/alerts")
    wanted = sorted({i for i in ids if 1 <= i <= MAX_ID})[:MAX_GROUPS]
    if not wanted:
        return redirect_with(request, home, "flash.none_selected")
    target = await incident_lookup.resolve(session, actor, incident)
    if target is None:
        return redirect_with(request, home, "flash.link.unknown")
    if target.status not in lifecycle.OPEN_STATES:
        return redirect_with(request, home, "flash.link.closed")
    # Counted for the message only: when the link goes through, every group was visible.
    already = await session.scalar(
        sa.select(sa.func.count())
        .select_from(AlertGroup)
        .where(AlertGroup.id.in_(wanted), AlertGroup.incident_id == target.id)
    )
    try:
        await links.link(session, actor, target.id, wanted)
    except Conflict:  # a group in another incident (or the incident closed meanwhile)
        return redirect_with(request, home, "flash.link.taken")
    except Invalid:  # a group that does not exist or that the actor cannot see
        return redirect_with(request, home, "flash.link.missing")
    return redirect_with(
        request, f"/incidents/{target.id}#groups", "flash.link.done", n=len(wanted) - (already or 0)
    )


@router.post("/incidents/{incident_id}/groups/{group_id}/unlink")
async def unlink(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    group_id: IdPath,
    csrf: Short = "",
) -> Response:
    """Take a group out of the incident (back to the queue as acknowledged)."""
    check_csrf(request, csrf)
    _write(actor)
    change = links.unlink(session, actor, incident_id, group_id)
    return await _attempt(request, _back(incident_id, "groups"), "flash.link.unlinked", change)


@router.post("/incidents/{incident_id}/merge")
async def merge(
    request: Request,
    actor: ConsoleActor,
    session: Session,
    incident_id: IdPath,
    other: Short = "",
    csrf: Short = "",
) -> Response:
    """Merge the incident ``other`` names into this one (it is dismissed, its groups move here)."""
    check_csrf(request, csrf)
    _write(actor)
    here = await service.get(session, actor, incident_id)
    source = await incident_lookup.resolve(session, actor, other)
    if source is None:
        return redirect_with(request, f"/incidents/{here.id}#merge", "flash.merge.unknown")
    if source.id == here.id:
        return redirect_with(request, f"/incidents/{here.id}#merge", "flash.merge.self")
    if not {here.status, source.status} <= lifecycle.OPEN_STATES:
        return redirect_with(request, f"/incidents/{here.id}#merge", "flash.merge.closed")
    moving = await session.scalar(
        sa.select(sa.func.count()).select_from(AlertGroup).where(AlertGroup.incident_id == source.id)
    )
    try:
        await links.merge(session, actor, here.id, source.id)
    except Conflict:  # closed meanwhile
        return redirect_with(request, f"/incidents/{here.id}#merge", "flash.merge.closed")
    return redirect_with(request, f"/incidents/{here.id}#groups", "flash.merge.done", n=moving or 0)
