"""Alert queries over the store, with opaque cursors (newest first)."""

from __future__ import annotations

import asyncio
import base64
import binascii
from datetime import datetime

from citysoc.core.alert import Alert
from citysoc.core.event import utc
from citysoc.store.base import AlertQuery, Store


class BadCursor(ValueError):
    pass


def encode_cursor(a: Alert) -> str:
    return base64.urlsafe_b64encode(f"{utc(a.detected_at).isoformat()}|{a.alert_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        ts, _, alert_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return utc(datetime.fromisoformat(ts)), alert_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise BadCursor("invalid cursor") from e


async def list_alerts(store: Store, q: AlertQuery) -> tuple[list[Alert], str | None]:
    # Fetch one more than asked to know whether a next page exists.
    probe = AlertQuery(q.agency, q.rule_id, q.level, q.since, q.until, q.limit + 1, q.before)
    rows = await asyncio.to_thread(store.query_alerts, probe)
    page = rows[: q.limit]
    return page, (encode_cursor(page[-1]) if len(rows) > q.limit and page else None)


async def get_alert(store: Store, alert_id: str) -> Alert | None:
    return await asyncio.to_thread(store.get_alert, alert_id)
