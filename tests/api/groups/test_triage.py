"""Triage: the transition table (every pair), the endpoints (one, bulk, assign), the queue's filters
and sorts, and the drill-down into ClickHouse occurrences."""

from __future__ import annotations

import itertools

import pytest

from citysoc.api.groups.service import ingest_alerts
from citysoc.api.groups.triage import TRANSITIONS, TransitionError, check_transition
from citysoc.db.enums import DismissReason, GroupStatus

from ..conftest import Api
from .support import alert

ALLOWED = {
    ("new", "acknowledged"),
    ("new", "dismissed"),
    ("acknowledged", "escalated"),
    ("acknowledged", "dismissed"),
    ("dismissed", "acknowledged"),
}


@pytest.mark.parametrize("current,to", list(itertools.product(GroupStatus, GroupStatus)))
def test_every_transition_pair(current: GroupStatus, to: GroupStatus) -> None:
    reason = DismissReason.BENIGN if to == GroupStatus.DISMISSED else None
    if (current.value, to.value) in ALLOWED:
        check_transition(current, to, reason)
        assert to in TRANSITIONS[current]
    else:
        with pytest.raises(TransitionError):
            check_transition(current, to, reason)


def test_reason_rules() -> None:
    with pytest.raises(TransitionError, match="reason"):
        check_transition(GroupStatus.NEW, GroupStatus.DISMISSED, None)
    with pytest.raises(TransitionError, match="only a dismissal"):
        check_transition(GroupStatus.NEW, GroupStatus.ACKNOWLEDGED, DismissReason.DUPLICATE)


async def _queue(api: Api) -> list[dict[str, object]]:
    alerts = [
        alert(1, host="a", level="low"),
        alert(2, host="b", level="critical", title="Mimikatz"),
        alert(3, host="c", level="medium", system="mail"),
        alert(4, host="a", level="low"),
        alert(5, host="d", level="high", agency="q3"),
    ]
    api.store.insert_alerts(alerts)
    await ingest_alerts(api.db, alerts)
    page = await api.ok("GET", "/api/v1/alert-groups")
    items: list[dict[str, object]] = page["items"]
    return items


async def test_transitions_through_the_api_are_audited(api: Api) -> None:
    items = await _queue(api)
    gid = items[0]["id"]
    path = f"/api/v1/alert-groups/{gid}/transition"
    r = await api.call("POST", path, json={"to": "escalated"})
    assert r.status_code == 409 and "allowed" in r.json()["detail"]
    assert (await api.call("POST", path, json={"to": "dismissed"})).status_code == 409  # no reason
    g = await api.ok("POST", path, json={"to": "dismissed", "reason": "false_positive"})
    assert g["status"] == "dismissed" and g["dismiss_reason"] == "false_positive"
    g = await api.ok("POST", path, json={"to": "acknowledged"})
    assert g["status"] == "acknowledged" and g["dismiss_reason"] is None
    g = await api.ok("POST", path, json={"to": "escalated"})
    log = await api.ok("GET", "/api/v1/audit", params={"object_type": "alert_group", "object_id": str(gid)})
    assert [(e["before"]["status"], e["after"]["status"]) for e in reversed(log["items"])] == [
        ("new", "dismissed"),
        ("dismissed", "acknowledged"),
        ("acknowledged", "escalated"),
    ]
    assert (await api.ok("GET", "/api/v1/audit/verify"))["ok"] is True


async def test_bulk_transition_reports_each_group(api: Api) -> None:
    items = await _queue(api)
    ids = [i["id"] for i in items]
    first = await api.ok("POST", f"/api/v1/alert-groups/{ids[0]}/transition", json={"to": "acknowledged"})
    assert first["status"] == "acknowledged"
    body = {"ids": [*ids, 999_999], "to": "acknowledged"}
    out = await api.ok("POST", "/api/v1/alert-groups/bulk-transition", json=body)
    assert out["changed"] == len(ids) - 1
    by_id = {r["id"]: r for r in out["results"]}
    assert by_id[ids[0]]["ok"] is False and "cannot go" in by_id[ids[0]]["error"]
    assert by_id[999_999] == {"id": 999_999, "ok": False, "status": None, "error": "no such alert group"}
    dismissed = await api.ok(
        "POST",
        "/api/v1/alert-groups/bulk-transition",
        json={"ids": ids, "to": "dismissed", "reason": "duplicate"},
    )
    assert dismissed["changed"] == len(ids)
    listed = await api.ok("GET", "/api/v1/alert-groups", params={"status": "dismissed"})
    assert {g["id"] for g in listed["items"]} == set(ids)


async def test_queue_filters_and_sorts(api: Api) -> None:
    await _queue(api)

    async def hosts(**params: object) -> list[str]:
        page = await api.ok("GET", "/api/v1/alert-groups", params=params)
        return [g["key"]["host"] for g in page["items"]]

    assert await hosts() == ["d", "a", "c", "b"]  # newest last_seen first
    assert await hosts(sort="-level") == ["b", "d", "c", "a"]
    assert await hosts(sort="-count") == ["a", "d", "c", "b"]
    assert await hosts(agency="q3") == ["d"]
    assert await hosts(system="mail") == ["c"]
    assert await hosts(min_level="high") == ["d", "b"]
    assert await hosts(level="low") == ["a"]
    assert await hosts(q="mimi") == ["b"]
    assert await hosts(since="2026-11-01T08:03:00Z") == ["d", "a", "c"]
    assert await hosts(until="2026-11-01T08:03:00Z") == ["b"]
    first = await api.ok("GET", "/api/v1/alert-groups", params={"limit": 3, "sort": "last_seen"})
    rest = await api.ok(
        "GET",
        "/api/v1/alert-groups",
        params={"limit": 3, "sort": "last_seen", "cursor": first["next_cursor"]},
    )
    assert [g["key"]["host"] for g in first["items"] + rest["items"]] == ["b", "c", "a", "d"] and rest[
        "next_cursor"
    ] is None


async def test_assignment(api: Api) -> None:
    items = await _queue(api)
    gid = items[0]["id"]
    analyst, token = await api.user("an", "soc_analyst")
    other, _ = await api.user("an2", "soc_analyst")
    auditor, _ = await api.user("aud", "auditor")
    path = f"/api/v1/alert-groups/{gid}/assignee"
    assert (await api.ok("PUT", path, token, json={"assignee_id": analyst["id"]}))["assignee_id"] == analyst[
        "id"
    ]
    assert (await api.call("PUT", path, token, json={"assignee_id": other["id"]})).status_code == 403
    assert (await api.ok("PUT", path, json={"assignee_id": other["id"]}))["assignee_id"] == other["id"]
    assert (await api.call("PUT", path, json={"assignee_id": auditor["id"]})).status_code == 422
    assert (await api.ok("PUT", path, json={"assignee_id": None}))["assignee_id"] is None
    mine = await api.ok("GET", "/api/v1/alert-groups", params={"assignee_id": other["id"]})
    assert mine["items"] == []


async def test_occurrences_drill_into_the_store(api: Api) -> None:
    alerts = [alert(i) for i in range(7)]
    api.store.insert_alerts(alerts)
    await ingest_alerts(api.db, alerts)
    gid = (await api.ok("GET", "/api/v1/alert-groups"))["items"][0]["id"]
    got: list[str] = []
    cursor = None
    while True:
        page = await api.ok(
            "GET",
            f"/api/v1/alert-groups/{gid}/occurrences",
            params={"limit": 3} | ({"cursor": cursor} if cursor else {}),
        )
        got += [a["alert_id"] for a in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert got == [
        a.alert_id for a in sorted(alerts, key=lambda a: (a.detected_at, a.alert_id), reverse=True)
    ]
