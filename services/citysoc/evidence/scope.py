"""What an evidence export covers, named the ways investigators ask: by incident or by a query.

Contract:

* :func:`incident_alert_ids` resolves an incident (its code ``INC-2026-0001`` or its numeric id) in
  the case database to the ids of every alert occurrence of every alert group linked to it. An
  unknown incident raises :class:`~citysoc.evidence.export.IncompleteExport` (nothing is exported
  rather than the wrong thing); an incident without alerts gives ``[]``.
* :func:`query_alert_ids` pages through ``Store.query_alerts`` for the given filters (agency, rule,
  detection time window) until it is exhausted; ``limit`` bounds the size of one export, and going
  past it raises ``IncompleteExport`` too: a silently truncated export would not be "complete".
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from citysoc.db import Database
from citysoc.db.incidents import Incident
from citysoc.db.triage import AlertGroup, SeenAlert
from citysoc.evidence.export import IncompleteExport
from citysoc.store.base import AlertQuery, Store

PAGE = 1000


async def incident_alert_ids(db: Database, incident: str) -> tuple[str, list[str]]:
    """(incident code, alert ids of its linked groups, oldest detection first)."""
    cond = Incident.code == incident
    if incident.isdigit() and int(incident) < 2**31:
        cond = sa.or_(cond, Incident.id == int(incident))
    async with db.session() as session:
        found = (await session.execute(sa.select(Incident.id, Incident.code).where(cond))).first()
        if found is None:
            raise IncompleteExport(f"no incident {incident!r} in the case database")
        rows = await session.execute(
            sa.select(SeenAlert.alert_id)
            .join(AlertGroup, AlertGroup.id == SeenAlert.group_id)
            .where(AlertGroup.incident_id == found[0])
            .order_by(SeenAlert.detected_at, SeenAlert.alert_id)
        )
        return str(found[1]), [r[0] for r in rows.all()]


def query_alert_ids(
    store: Store,
    *,
    agency: str | None = None,
    rule_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100_000,
) -> list[str]:
    """Ids of every stored alert matching the filters (newest first), at most ``limit``."""
    ids: list[str] = []
    before: tuple[datetime, str] | None = None
    while True:
        page = store.query_alerts(
            AlertQuery(agency=agency, rule_id=rule_id, since=since, until=until, limit=PAGE, before=before)
        )
        ids.extend(a.alert_id for a in page)
        if len(ids) > limit:
            raise IncompleteExport(f"the query names more than {limit} alerts; narrow it or raise --limit")
        if len(page) < PAGE:
            return ids
        before = (page[-1].detected_at, page[-1].alert_id)
