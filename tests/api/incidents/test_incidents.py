"""Incidents through the API: creation from alert groups, every transition of the table (generated
from it), closing rules, time metrics, link/unlink/merge, the timeline and its audit chain."""

from __future__ import annotations

import re
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from citysoc.api.incidents.lifecycle import TRANSITIONS, needs_reason
from citysoc.db import AuditEntry
from citysoc.db.enums import IncidentStatus

from ..conftest import Api
from .support import incident, move, world


def _iso(s: str) -> datetime:
    return datetime.fromisoformat(s)


async def test_create_from_groups_derives_agencies_systems_and_the_clock(api: Api) -> None:
    w = await world(api)
    groups = [w.groups[h] for h in ("a", "b", "c")]
    inc = await incident(
        api, title="Portal brute force", group_ids=[g["id"] for g in groups], severity="high"
    )
    assert re.fullmatch(r"INC-\d{4}-0001", inc["code"])
    assert inc["status"] == "new" and inc["severity"] == "high"
    assert sorted(inc["group_ids"]) == sorted(g["id"] for g in groups)
    assert set(inc["affected_agency_ids"]) == {w.agencies["q1"]["id"], w.agencies["q2"]["id"]}
    assert set(inc["system_ids"]) == {w.systems["portal"]["id"], w.systems["mail"]["id"]}
    detected = min(_iso(g["first_seen"]) for g in groups)
    assert _iso(inc["detected_at"]) == detected
    due = detected + timedelta(days=5)
    assert _iso(inc["initial_report"]["due_at"]) == due
    assert inc["initial_report"]["state"] == ("overdue" if datetime.now(UTC) >= due else "due")
    for g in groups:
        got = await api.ok("GET", f"/api/v1/alert-groups/{g['id']}")
        assert got["status"] == "escalated" and got["incident_id"] == inc["id"]
    # A group belongs to one incident only.
    r = await api.call("POST", "/api/v1/incidents", json={"title": "again", "group_ids": [groups[0]["id"]]})
    assert r.status_code == 409, r.text
    # By hand, beyond capability: the report is due at detection.
    at = datetime.now(UTC) - timedelta(hours=1)
    manual = await incident(api, title="Ransomware", detected_at=at.isoformat(), beyond_capability=True)
    assert manual["code"].endswith("-0002") and manual["group_ids"] == []
    assert _iso(manual["initial_report"]["due_at"]) == at
    assert manual["initial_report"]["state"] == "overdue"
    # Unknown references are refused, not stored.
    for body in ({"group_ids": [999999]}, {"affected_agency_ids": [999999]}, {"system_ids": [999999]}):
        r = await api.call("POST", "/api/v1/incidents", json={"title": "x", **body})
        assert r.status_code == 422, (body, r.text)


def _path_to(target: IncidentStatus) -> list[IncidentStatus]:
    """The shortest walk from ``new`` to ``target`` through the table."""
    prev: dict[IncidentStatus, IncidentStatus | None] = {IncidentStatus.NEW: None}
    queue = deque([IncidentStatus.NEW])
    while queue:
        s = queue.popleft()
        for t in sorted(TRANSITIONS[s]):
            if t not in prev:
                prev[t] = s
                queue.append(t)
    path: list[IncidentStatus] = []
    node: IncidentStatus | None = target
    while node is not None and node != IncidentStatus.NEW:
        path.append(node)
        node = prev[node]
    return path[::-1]


async def _at(api: Api, state: IncidentStatus) -> int:
    inc = await incident(api, title=f"at {state.value}")
    iid = inc["id"]
    await api.ok(
        "PATCH", f"/api/v1/incidents/{iid}", json={"determination": "true_positive", "summary": "contained"}
    )
    current = IncidentStatus.NEW
    for step in _path_to(state):
        body = {"to": step.value} | ({"reason": "walk"} if needs_reason(current, step) else {})
        await api.ok("POST", f"/api/v1/incidents/{iid}/transition", json=body)
        current = step
    return int(iid)


@pytest.mark.parametrize("source", list(IncidentStatus), ids=lambda s: s.value)
async def test_every_transition_through_the_api(api: Api, source: IncidentStatus) -> None:
    """From ``source``: each allowed target works (on its own incident), each other one is a 409
    that changes nothing."""
    iid = await _at(api, source)
    for to in IncidentStatus:
        if to in TRANSITIONS[source]:
            continue
        r = await api.call(
            "POST", f"/api/v1/incidents/{iid}/transition", json={"to": to.value, "reason": "x"}
        )
        assert r.status_code == 409, (source, to, r.text)
    assert (await api.ok("GET", f"/api/v1/incidents/{iid}"))["status"] == source.value
    for to in sorted(TRANSITIONS[source]):
        fresh = await _at(api, source)
        body = {"to": to.value} | ({"reason": "because"} if needs_reason(source, to) else {})
        out = await api.ok("POST", f"/api/v1/incidents/{fresh}/transition", json=body)
        assert out["status"] == to.value


async def test_closing_rules_metrics_reopen_and_timeline(api: Api) -> None:
    w = await world(api)
    inc = await incident(api, group_ids=[w.groups["a"]["id"]])
    iid = inc["id"]
    await move(api, iid, "triage", "in_progress", "containment", "recovery", "resolved")
    r = await api.call("POST", f"/api/v1/incidents/{iid}/transition", json={"to": "closed"})
    assert r.status_code == 409 and "determination" in r.json()["detail"] and "summary" in r.json()["detail"]
    task = await api.ok(
        "POST",
        f"/api/v1/incidents/{iid}/tasks",
        json={"title": "Rebuild web01", "agency_id": w.agencies["q1"]["id"], "mandatory": True},
        status=201,
    )
    await api.ok("PATCH", f"/api/v1/incidents/{iid}", json={"determination": "true_positive", "summary": "s"})
    r = await api.call("POST", f"/api/v1/incidents/{iid}/transition", json={"to": "closed"})
    assert r.status_code == 409 and "1 mandatory task" in r.json()["detail"]
    await api.ok("PATCH", f"/api/v1/incidents/{iid}/tasks/{task['id']}", json={"status": "done"})
    closed = await move(api, iid, "closed")
    m = closed["metrics"]
    assert closed["closed_at"] is not None
    assert 0 < m["time_to_acknowledge_s"] <= m["time_to_contain_s"] <= m["time_to_resolve_s"]
    detected = _iso(closed["detected_at"])
    assert m["time_to_resolve_s"] == (_iso(closed["resolved_at"]) - detected).total_seconds()
    r = await api.call("POST", f"/api/v1/incidents/{iid}/transition", json={"to": "in_progress"})
    assert r.status_code == 409 and "reason" in r.json()["detail"]
    reopened = await move(api, iid, "in_progress", reason="attacker came back")
    assert reopened["resolved_at"] is None and reopened["closed_at"] is None
    assert reopened["contained_at"] == closed["contained_at"]

    timeline = (await api.ok("GET", f"/api/v1/incidents/{iid}/timeline"))["items"]
    actions = [e["action"] for e in timeline]
    assert actions[0] == "incident.create"
    assert actions.count("incident.transition") == 7
    assert {"incident.task.create", "incident.task.update", "incident.update"} <= set(actions)
    last = timeline[-1]
    assert (last["before"]["status"], last["after"]["status"], last["after"]["reason"]) == (
        "closed",
        "in_progress",
        "attacker came back",
    )
    assert [e["seq"] for e in timeline] == sorted(e["seq"] for e in timeline)
    page = await api.ok("GET", f"/api/v1/incidents/{iid}/timeline", params={"limit": 3})
    rest = await api.ok("GET", f"/api/v1/incidents/{iid}/timeline", params={"cursor": page["next_cursor"]})
    assert [e["seq"] for e in page["items"] + rest["items"]] == [e["seq"] for e in timeline]

    assert (await api.ok("GET", "/api/v1/audit/verify"))["ok"] is True
    victim = timeline[2]["seq"]
    async with api.db.session() as s:
        await s.execute(
            sa.update(AuditEntry).where(AuditEntry.seq == victim).values(actor="user:0:someone-else")
        )
        await s.commit()
    v = await api.ok("GET", "/api/v1/audit/verify")
    assert v["ok"] is False and victim in [p["seq"] for p in v["problems"]]


async def test_link_unlink_and_merge(api: Api) -> None:
    w = await world(api)
    x = await incident(api, title="X", group_ids=[w.groups["a"]["id"]])
    y = await incident(api, title="Y", group_ids=[w.groups["c"]["id"]])
    await api.ok(
        "POST",
        f"/api/v1/incidents/{y['id']}/observables",
        json={"kind": "ipv4", "value": "198.51.100.7"},
        status=201,
    )
    linked = await api.ok(
        "POST", f"/api/v1/incidents/{x['id']}/groups", json={"group_ids": [w.groups["b"]["id"]]}
    )
    assert sorted(linked["group_ids"]) == sorted([w.groups["a"]["id"], w.groups["b"]["id"]])
    r = await api.call(
        "POST", f"/api/v1/incidents/{x['id']}/groups", json={"group_ids": [w.groups["c"]["id"]]}
    )
    assert r.status_code == 409  # Y holds it: merge instead
    merged = await api.ok("POST", f"/api/v1/incidents/{x['id']}/merge", json={"incident_id": y["id"]})
    assert sorted(merged["group_ids"]) == sorted(w.groups[h]["id"] for h in ("a", "b", "c"))
    assert w.agencies["q2"]["id"] in merged["affected_agency_ids"]
    gone = await api.ok("GET", f"/api/v1/incidents/{y['id']}")
    assert gone["status"] == "dismissed" and gone["merged_into_id"] == x["id"] and gone["group_ids"] == []
    obs = await api.ok("GET", f"/api/v1/incidents/{x['id']}/observables")
    assert [o["value"] for o in obs] == ["198.51.100.7"]
    r = await api.call("POST", f"/api/v1/incidents/{x['id']}/merge", json={"incident_id": y["id"]})
    assert r.status_code == 409  # Y is dismissed
    r = await api.call("POST", f"/api/v1/incidents/{x['id']}/merge", json={"incident_id": x["id"]})
    assert r.status_code == 422
    after = await api.ok("DELETE", f"/api/v1/incidents/{x['id']}/groups/{w.groups['a']['id']}")
    assert w.groups["a"]["id"] not in after["group_ids"]
    g = await api.ok("GET", f"/api/v1/alert-groups/{w.groups['a']['id']}")
    assert g["incident_id"] is None and g["status"] == "acknowledged"
    r = await api.call("DELETE", f"/api/v1/incidents/{x['id']}/groups/{w.groups['a']['id']}")
    assert r.status_code == 404
    listed = await api.ok("GET", f"/api/v1/incidents/{x['id']}/groups")
    assert sorted(g["id"] for g in listed) == sorted(w.groups[h]["id"] for h in ("b", "c"))
    log = await api.ok(
        "GET", "/api/v1/audit", params={"object_type": "alert_group", "object_id": str(w.groups["c"]["id"])}
    )
    assert [e["action"] for e in reversed(log["items"])] == ["group.link", "group.link"]
    assert (
        log["items"][0]["before"]["incident_id"] == y["id"]
        and log["items"][0]["after"]["incident_id"] == x["id"]
    )


async def test_list_filters_and_sorts(api: Api) -> None:
    w = await world(api)
    q1, q2 = w.agencies["q1"]["id"], w.agencies["q2"]["id"]
    a = await incident(api, title="alpha", severity="low", affected_agency_ids=[q1])
    b = await incident(api, title="beta", severity="critical", serious=True, lead_agency_id=q2)
    c = await incident(api, title="gamma", severity="medium", coordinating_agency_ids=[q1])
    await move(api, c["id"], "dismissed", reason="duplicate")

    async def ids(**params: object) -> list[int]:
        page = await api.ok("GET", "/api/v1/incidents", params=params)
        return [i["id"] for i in page["items"]]

    assert await ids(sort="id") == [a["id"], b["id"], c["id"]]
    assert await ids(sort="-severity") == [b["id"], c["id"], a["id"]]
    assert await ids(agency_id=q1, sort="id") == [a["id"], c["id"]]
    assert await ids(agency_id=q2) == [b["id"]]
    assert await ids(serious=True) == [b["id"]]
    assert await ids(open=False) == [c["id"]]
    assert await ids(q="alp") == [a["id"]]
    first = await api.ok("GET", "/api/v1/incidents", params={"sort": "id", "limit": 2})
    second = await api.ok(
        "GET", "/api/v1/incidents", params={"sort": "id", "limit": 2, "cursor": first["next_cursor"]}
    )
    assert [i["id"] for i in first["items"] + second["items"]] == [a["id"], b["id"], c["id"]]
