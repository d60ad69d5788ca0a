"""Alerts for the triage tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citysoc.core.alert import Alert, Level, alert_id_for_event

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def alert(
    n: int,
    *,
    rule: str = "r-brute",
    agency: str = "q1",
    system: str = "portal",
    host: str = "web01",
    level: Level = "high",
    minutes: int | None = None,
    title: str = "Brute force",
    matched: dict[str, str] | None = None,
) -> Alert:
    at = T0 + timedelta(minutes=n if minutes is None else minutes)
    return Alert(
        alert_id=alert_id_for_event(rule, f"{agency}-{system}-{host}-{n}"),
        rule_id=rule,
        title=title,
        level=level,
        rule_status="stable",
        tags=("attack.t1110",),
        agency=agency,
        system=system,
        host=host,
        event_ids=(f"ev-{n}",),
        matched_fields=matched or {"User": "admin"},
        time=at,
        detected_at=at + timedelta(seconds=5),
    )
