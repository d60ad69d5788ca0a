"""Collect what an evidence export contains from the store: the alerts asked for, every event they
reference, and any events asked for directly. An export is complete or it is refused: an id the
store does not have is an error, never a silently smaller archive."""

from __future__ import annotations

from collections.abc import Sequence

from citysoc.core.alert import Alert
from citysoc.core.event import Event
from citysoc.store.base import Store


class IncompleteExport(LookupError):
    pass


def collect(
    store: Store, alert_ids: Sequence[str], event_ids: Sequence[str]
) -> tuple[list[Event], list[Alert]]:
    alerts: list[Alert] = store.get_alerts(alert_ids)
    stored = {a.alert_id for a in alerts}
    missing = [f"alert {aid}" for aid in dict.fromkeys(alert_ids) if aid not in stored]
    wanted = dict.fromkeys([*event_ids, *(e for a in alerts for e in a.event_ids)])
    events: list[Event] = []
    for eid in wanted:
        event = store.get_event(eid)
        if event is None:
            missing.append(f"event {eid}")
        else:
            events.append(event)
    if missing:
        raise IncompleteExport("not in the store: " + ", ".join(missing))
    if not events:
        raise IncompleteExport("nothing to export: name alerts (--alert) or events (--event)")
    return events, alerts
