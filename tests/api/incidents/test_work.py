"""Tasks, comments, observables and evidence; what agency officers may see and change; the report
clock's listing and its gauges on ``/metrics``."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ..conftest import Api
from .support import incident, move, world


async def test_tasks_and_what_officers_may_do(api: Api) -> None:
    w = await world(api)
    q1, q2, q3 = (w.agencies[c]["id"] for c in ("q1", "q2", "q3"))
    inc = await incident(api, title="Portal", affected_agency_ids=[q1])
    iid = inc["id"]
    due = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    t1 = await api.ok(
        "POST",
        f"/api/v1/incidents/{iid}/tasks",
        json={"title": "isolate", "agency_id": q1, "due_at": due},
        status=201,
    )
    t2 = await api.ok(
        "POST", f"/api/v1/incidents/{iid}/tasks", json={"title": "check mail", "agency_id": q2}, status=201
    )
    # The task's agency joins the incident, so its officers can reach the task.
    got = await api.ok("GET", f"/api/v1/incidents/{iid}")
    assert got["coordinating_agency_ids"] == [q2] and got["affected_agency_ids"] == [q1]
    _, o1 = await api.user("officer1", "agency_officer", q1)
    _, o2 = await api.user("officer2", "agency_officer", q2)
    _, o3 = await api.user("officer3", "agency_officer", q3)

    mine = await api.ok("GET", f"/api/v1/incidents/{iid}/tasks", o1)
    assert [t["id"] for t in mine["items"]] == [t1["id"]]
    assert [t["id"] for t in (await api.ok("GET", "/api/v1/tasks", o2))["items"]] == [t2["id"]]
    assert [t["id"] for t in (await api.ok("GET", "/api/v1/tasks", params={"overdue": True}))["items"]] == [
        t1["id"]
    ]
    assert (await api.call("GET", f"/api/v1/incidents/{iid}", o3)).status_code == 404
    assert (await api.ok("GET", "/api/v1/incidents", o3))["items"] == []
    assert (await api.ok("GET", "/api/v1/tasks", o3))["items"] == []

    # Officers update status and note of their own agency's tasks, nothing else.
    done = await api.ok(
        "PATCH", f"/api/v1/incidents/{iid}/tasks/{t1['id']}", o1, json={"status": "done", "note": "ok"}
    )
    assert done["status"] == "done" and done["completed_at"] is not None and done["note"] == "ok"
    r = await api.call("PATCH", f"/api/v1/incidents/{iid}/tasks/{t1['id']}", o1, json={"title": "renamed"})
    assert r.status_code == 403
    r = await api.call("PATCH", f"/api/v1/incidents/{iid}/tasks/{t2['id']}", o1, json={"status": "done"})
    assert r.status_code == 404
    r = await api.call("POST", f"/api/v1/incidents/{iid}/tasks", o1, json={"title": "x", "agency_id": q1})
    assert r.status_code == 403
    r = await api.call("POST", f"/api/v1/incidents/{iid}/transition", o1, json={"to": "triage"})
    assert r.status_code == 403
    reopened = await api.ok("PATCH", f"/api/v1/incidents/{iid}/tasks/{t1['id']}", json={"status": "open"})
    assert reopened["completed_at"] is None

    c = await api.ok(
        "POST", f"/api/v1/incidents/{iid}/comments", o2, json={"body": "mail is clean"}, status=201
    )
    assert c["agency_id"] == q2 and c["author"].endswith(":officer2")
    assert [x["body"] for x in await api.ok("GET", f"/api/v1/incidents/{iid}/comments", o1)] == [
        "mail is clean"
    ]
    actions = [e["action"] for e in (await api.ok("GET", f"/api/v1/incidents/{iid}/timeline", o1))["items"]]
    assert actions.count("incident.task.update") == 2 and "incident.comment" in actions
    assert actions.count("incident.task.create") == 1  # q2's task is not q1's business
    everything = [e["action"] for e in (await api.ok("GET", f"/api/v1/incidents/{iid}/timeline"))["items"]]
    assert everything.count("incident.task.create") == 2


async def test_observables_are_normalised_and_deduplicated(api: Api) -> None:
    inc = await incident(api, title="IOC")
    path = f"/api/v1/incidents/{inc['id']}/observables"
    sha = "AB" * 32
    first = await api.ok("POST", path, json={"kind": "sha256", "value": sha}, status=201)
    again = await api.ok(
        "POST", path, json={"kind": "sha256", "value": sha.lower(), "tlp": "TLP:RED"}, status=200
    )
    assert first["id"] == again["id"] and again["value"] == sha.lower() and again["sightings"] == 2
    await api.ok("POST", path, json={"kind": "domain", "value": "Evil.Example.COM."}, status=201)
    await api.ok("POST", path, json={"kind": "ipv4", "value": "198.51.100.0/24"}, status=201)
    for bad in (
        {"kind": "ipv4", "value": "2001:db8::1"},
        {"kind": "ipv6", "value": "10.0.0.1"},
        {"kind": "sha256", "value": "xyz"},
        {"kind": "domain", "value": "not a domain"},
        {"kind": "url", "value": "nope"},
        {"kind": "user_account", "value": "a\nb"},
    ):
        r = await api.call("POST", path, json=bad)
        assert r.status_code == 422, (bad, r.text)
    values = [o["value"] for o in await api.ok("GET", path)]
    assert values == [sha.lower(), "evil.example.com", "198.51.100.0/24"]
    await api.ok("DELETE", f"{path}/{first['id']}", status=204)
    assert len(await api.ok("GET", path)) == 2
    assert (await api.call("DELETE", f"{path}/{first['id']}")).status_code == 404


async def test_evidence_and_its_custody_log(api: Api) -> None:
    inc = await incident(api, title="Evidence")
    path = f"/api/v1/incidents/{inc['id']}/evidence"
    data = b"memory image"
    acquired = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    ev = await api.ok(
        "POST",
        path,
        json={
            "file_name": "web01.mem",
            "sha256": hashlib.sha256(data).hexdigest().upper(),
            "size": len(data),
            "acquired_by": "Nguyen Van A",
            "acquired_at": acquired.isoformat(),
            "export_id": "exp-42",
        },
        status=201,
    )
    assert ev["sha256"] == hashlib.sha256(data).hexdigest()
    assert [(c["action"], c["holder"]) for c in ev["custody"]] == [("acquired", "Nguyen Van A")]
    later = (acquired + timedelta(hours=2)).isoformat()
    ev = await api.ok(
        "POST",
        f"{path}/{ev['id']}/custody",
        json={"action": "transferred", "holder": "Police A05", "at": later},
        status=201,
    )
    assert [c["action"] for c in ev["custody"]] == ["acquired", "transferred"]
    r = await api.call(
        "POST",
        f"{path}/{ev['id']}/custody",
        json={"action": "examined", "holder": "x", "at": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 409
    assert (await api.ok("GET", f"{path}/{ev['id']}"))["custody"] == ev["custody"]
    assert [e["id"] for e in await api.ok("GET", path)] == [ev["id"]]
    r = await api.call(
        "POST", path, json={"file_name": "x", "sha256": "00", "acquired_by": "a", "acquired_at": later}
    )
    assert r.status_code == 422


def _gauges(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.startswith("citysoc_incidents_report"):
                out[s.name] = s.value
    return out


async def test_report_clock_lists_and_counts_due_and_overdue(api: Api) -> None:
    now = datetime.now(UTC)
    specs: list[dict[str, Any]] = [
        {"title": "old", "detected_at": (now - timedelta(days=6)).isoformat()},
        {"title": "fresh", "detected_at": (now - timedelta(days=1)).isoformat()},
        {"title": "fresh2", "detected_at": (now - timedelta(days=2)).isoformat()},
        {
            "title": "beyond",
            "detected_at": (now - timedelta(minutes=1)).isoformat(),
            "beyond_capability": True,
        },
        {"title": "dismissed", "detected_at": (now - timedelta(days=9)).isoformat()},
    ]
    made = {s["title"]: await incident(api, **s) for s in specs}
    await move(api, made["dismissed"]["id"], "dismissed", reason="not an incident")
    # Independent expectation: plain Python over what was created.
    expect_overdue = {
        t
        for t, s in made.items()
        if t != "dismissed" and datetime.fromisoformat(s["initial_report"]["due_at"]) <= now
    }
    expect_due = {t for t in made if t != "dismissed"} - expect_overdue
    assert expect_overdue == {"old", "beyond"} and expect_due == {"fresh", "fresh2"}

    clock = await api.ok("GET", "/api/v1/incidents/report-clock")
    assert (clock["due"], clock["overdue"]) == (len(expect_due), len(expect_overdue))
    assert [i["title"] for i in clock["items"]] == ["old", "beyond", "fresh2", "fresh"]  # by deadline
    overdue = await api.ok("GET", "/api/v1/incidents/report-clock", params={"state": "overdue"})
    assert {i["title"] for i in overdue["items"]} == expect_overdue
    assert all(i["seconds_left"] <= 0 for i in overdue["items"])
    due = await api.ok("GET", "/api/v1/incidents/report-clock", params={"state": "due"})
    assert {i["title"] for i in due["items"]} == expect_due

    r = await api.client.get("/metrics")
    assert _gauges(r.text) == {
        "citysoc_incidents_report_due": len(expect_due),
        "citysoc_incidents_report_overdue": len(expect_overdue),
    }
    # Becoming beyond capability makes the report due at once.
    await api.ok("PATCH", f"/api/v1/incidents/{made['fresh']['id']}", json={"beyond_capability": True})
    r = await api.client.get("/metrics")
    assert _gauges(r.text)["citysoc_incidents_report_overdue"] == len(expect_overdue) + 1
