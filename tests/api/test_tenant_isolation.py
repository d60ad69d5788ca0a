"""Tenant isolation, generated from the app's route table: an agency officer of agency A gets 403 or
404 on every route that names one of agency B's objects, sees none of B's objects in any listing
(also when filtering for B), and changes nothing of B's. A new route is covered without anyone
remembering: a route whose path parameter or request body this test does not know fails it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import fastapi.routing

from citysoc.api.groups.service import ingest_alerts

from .conftest import PASSWORD, Api
from .groups.support import alert

MARK = "bbb"  # every string that names one of B's objects contains it

# Routes that name no agency object: (method, path) -> why.
NOT_AGENCY_OBJECTS = {
    ("POST", "/api/v1/auth/login"): "logs the caller in",
    ("POST", "/api/v1/auth/logout"): "ends the caller's own session",
    ("POST", "/api/v1/tokens"): "creates a token for the caller",
}


def route_table(app: Any) -> list[tuple[str, str]]:
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = iterate(app.routes) if iterate else app.routes  # FastAPI >= 0.165 nests included routers
    out = set()
    for r in routes:
        for m in getattr(r, "methods", None) or ():
            if (
                m != "HEAD"
                and r.path.startswith("/api/v1/")
                and r.path not in ("/api/v1/openapi.json", "/api/v1/docs")
            ):
                out.add((m, r.path))
    return sorted(out)


async def _tenant(api: Api, code: str, n: int) -> dict[str, Any]:
    agency = await api.agency(code, name=f"{code} agency")
    system = await api.ok(
        "POST",
        "/api/v1/systems",
        json={
            "code": f"{code}-system",
            "name": f"{code} system",
            "owner_agency_id": agency["id"],
            "operator_agency_id": agency["id"],
            "function_class": "other",
        },
        status=201,
    )
    officer, session = await api.user(f"{code}-officer", "agency_officer", agency["id"])
    token = await api.ok(
        "POST",
        "/api/v1/tokens",
        session,
        json={"name": f"{code}-token", "scopes": ["agency.read"]},
        status=201,
    )
    a = alert(n, agency=code, system=f"{code}-system", host=f"{code}-host", title=f"{code} alert")
    api.store.insert_alerts([a])
    await ingest_alerts(api.db, [a])
    group = (await api.ok("GET", "/api/v1/alert-groups", params={"agency": code}))["items"][0]
    incident = await api.ok(
        "POST",
        "/api/v1/incidents",
        json={"title": f"{code} incident", "group_ids": [group["id"]], "affected_agency_ids": [agency["id"]]},
        status=201,
    )
    work = f"/api/v1/incidents/{incident['id']}"
    task = await api.ok(
        "POST", f"{work}/tasks", json={"title": f"{code} task", "agency_id": agency["id"]}, status=201
    )
    observable = await api.ok(
        "POST", f"{work}/observables", json={"kind": "domain", "value": f"{code}.example.com"}, status=201
    )
    evidence = await api.ok(
        "POST",
        f"{work}/evidence",
        json={
            "file_name": f"{code}.pcap",
            "sha256": "ab" * 32,
            "acquired_by": f"{code} officer",
            "acquired_at": "2026-11-01T00:00:00Z",
        },
        status=201,
    )
    await api.ok("POST", f"{work}/comments", json={"body": f"{code} comment"}, status=201)
    report = await api.ok("POST", f"{work}/reports", json={"kind": "initial"}, status=201)
    suppression = await api.ok(
        "POST",
        "/api/v1/suppressions",
        json={
            "name": f"{code} suppression",
            "justification": f"{code} maintenance window",
            "agency": code,
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
        status=201,
    )
    view = await api.ok(
        "POST",
        "/api/v1/saved-views",
        session,
        json={"name": f"{code} view", "query": f"view=flat&agency={code}"},
        status=201,
    )
    return {
        "agency": agency,
        "system": system,
        "officer": officer,
        "session": session,
        "token": token,
        "group": group,
        "alert": a,
        "incident": incident,
        "task": task,
        "observable": observable,
        "evidence": evidence,
        "report": report,
        "suppression": suppression,
        "view": view,
    }


HUNT_RULE = """
title: Any login
id: 5f0c1d2e-0000-4000-8000-000000000001
logsource: {product: linux}
detection: {sel: {program: sshd}, condition: sel}
level: low
"""


def bodies(b: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """A valid request body per route, naming B's objects wherever the body can name one."""
    agency_id = b["agency"]["id"]
    system = {
        "code": f"{MARK}-new",
        "name": "x",
        "owner_agency_id": agency_id,
        "operator_agency_id": agency_id,
        "function_class": "other",
    }
    return {
        ("POST", "/api/v1/agencies"): {
            "code": f"{MARK}-child",
            "name": "x",
            "kind": "ward",
            "parent_id": agency_id,
        },
        ("PATCH", "/api/v1/agencies/{agency_id}"): {"name": "renamed by A"},
        ("POST", "/api/v1/systems"): system,
        ("PATCH", "/api/v1/systems/{system_id}"): {"name": "renamed by A"},
        ("POST", "/api/v1/users"): {
            "username": f"{MARK}-spy",
            "role": "agency_officer",
            "agency_id": agency_id,
            "password": PASSWORD,
        },
        ("PATCH", "/api/v1/users/{user_id}"): {"display_name": "renamed by A"},
        ("PUT", "/api/v1/roles/{role}"): {"actions": ["agency.read"]},
        ("POST", "/api/v1/alert-groups/bulk-transition"): {"ids": [b["group"]["id"]], "to": "acknowledged"},
        ("POST", "/api/v1/alert-groups/{group_id}/transition"): {"to": "acknowledged"},
        ("PUT", "/api/v1/alert-groups/{group_id}/assignee"): {"assignee_id": b["officer"]["id"]},
        ("POST", "/api/v1/incidents"): {
            "title": f"{MARK} by A",
            "group_ids": [b["group"]["id"]],
            "affected_agency_ids": [agency_id],
        },
        ("PATCH", "/api/v1/incidents/{incident_id}"): {"title": "renamed by A"},
        ("POST", "/api/v1/incidents/{incident_id}/transition"): {"to": "triage"},
        ("POST", "/api/v1/incidents/{incident_id}/groups"): {"group_ids": [b["group"]["id"]]},
        ("POST", "/api/v1/incidents/{incident_id}/merge"): {"incident_id": b["incident"]["id"]},
        ("POST", "/api/v1/incidents/{incident_id}/tasks"): {"title": "by A", "agency_id": agency_id},
        ("PATCH", "/api/v1/incidents/{incident_id}/tasks/{task_id}"): {"status": "done", "note": "by A"},
        ("POST", "/api/v1/incidents/{incident_id}/comments"): {"body": "by A"},
        ("POST", "/api/v1/incidents/{incident_id}/observables"): {"kind": "ipv4", "value": "192.0.2.1"},
        ("POST", "/api/v1/incidents/{incident_id}/evidence"): {
            "file_name": "by-a",
            "sha256": "cd" * 32,
            "acquired_by": "A",
            "acquired_at": "2026-11-02T00:00:00Z",
        },
        ("POST", "/api/v1/incidents/{incident_id}/evidence/{evidence_id}/custody"): {
            "action": "transferred",
            "holder": "A",
        },
        ("POST", "/api/v1/incidents/{incident_id}/reports"): {"kind": "progress"},
        ("PATCH", "/api/v1/reports/{report_id}"): {"fields": {"next_steps": "by A"}},
        ("POST", "/api/v1/reports/{report_id}/transition"): {"to": "approved"},
        ("POST", "/api/v1/suppressions"): {
            "name": f"{MARK} by A",
            "justification": "hide B's alerts",
            "agency": MARK,
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
        ("POST", "/api/v1/saved-views"): {"name": f"{MARK} by A", "query": f"agency={MARK}"},
        ("PATCH", "/api/v1/saved-views/{view_id}"): {"name": "renamed by A", "default": True},
        ("POST", "/api/v1/hunts"): {
            "rules": [HUNT_RULE],
            "since": "2026-11-01T00:00:00Z",
            "until": "2026-11-02T00:00:00Z",
            "agency": MARK,
        },
    }


def path_values(b: dict[str, Any]) -> dict[str, Any]:
    return {
        "agency_id": b["agency"]["id"],
        "system_id": b["system"]["id"],
        "user_id": b["officer"]["id"],
        "token_id": b["token"]["id"],
        "group_id": b["group"]["id"],
        "alert_id": b["alert"].alert_id,
        "event_id": b["alert"].event_ids[0],
        "role": "agency_officer",
        "incident_id": b["incident"]["id"],
        "task_id": b["task"]["id"],
        "observable_id": b["observable"]["id"],
        "evidence_id": b["evidence"]["id"],
        "report_id": b["report"]["id"],
        "suppression_id": b["suppression"]["id"],
        "view_id": b["view"]["id"],
    }


QUERY_FILTERS = {
    "agency_id",
    "owner_agency_id",
    "agency",
    "system",
    "rule_id",
    "assignee_id",
    "object_id",
    "incident_id",
}


async def _snapshot(api: Api, b: dict[str, Any]) -> list[Any]:
    return [
        await api.ok("GET", f"/api/v1/agencies/{b['agency']['id']}"),
        await api.ok("GET", f"/api/v1/systems/{b['system']['id']}"),
        await api.ok("GET", f"/api/v1/users/{b['officer']['id']}"),
        await api.ok("GET", f"/api/v1/alert-groups/{b['group']['id']}"),
        await api.ok("GET", "/api/v1/roles"),
        (await api.ok("GET", "/api/v1/me", b["session"]))["user"],
        await api.ok("GET", f"/api/v1/incidents/{b['incident']['id']}"),
        await api.ok("GET", f"/api/v1/incidents/{b['incident']['id']}/tasks"),
        await api.ok("GET", f"/api/v1/incidents/{b['incident']['id']}/observables"),
        await api.ok("GET", f"/api/v1/incidents/{b['incident']['id']}/evidence"),
        await api.ok("GET", f"/api/v1/incidents/{b['incident']['id']}/comments"),
        await api.ok("GET", f"/api/v1/reports/{b['report']['id']}"),
        await api.ok("GET", f"/api/v1/suppressions/{b['suppression']['id']}"),
        await api.ok("GET", f"/api/v1/saved-views/{b['view']['id']}", b["session"]),
    ]


async def test_officer_of_a_cannot_reach_b(api: Api) -> None:
    a = await _tenant(api, "aaa", 1)
    b = await _tenant(api, MARK, 2)
    me = a["session"]
    known_bodies, values = bodies(b), path_values(b)
    spec = api.app.openapi()["paths"]
    before = await _snapshot(api, b)
    checked = 0
    for method, path in route_table(api.app):
        if (method, path) in NOT_AGENCY_OBJECTS:
            continue
        op = spec.get(path, {}).get(method.lower(), {})
        params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        unknown = [p for p in params if p not in values]
        assert not unknown, f"{method} {path}: add B's value for path parameter(s) {unknown} to path_values()"
        url = path.format(**{p: values[p] for p in params})
        body = None
        if "requestBody" in op:
            assert (method, path) in known_bodies, (
                f"{method} {path}: add a valid body naming B's objects to bodies()"
            )
            body = known_bodies[(method, path)]
        if params or (body is not None and method != "GET"):
            r = await api.call(method, url, me, json=body)
            assert r.status_code in (403, 404), (method, url, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            checked += 1
            continue
        # A listing: unfiltered, and filtered for each of B's objects it can filter by.
        queries: list[dict[str, Any]] = [{}]
        for p in op.get("parameters", []):
            name = p["name"]
            if p["in"] == "query" and name in QUERY_FILTERS:
                value = {"agency": MARK, "system": f"{MARK}-system", "rule_id": b["alert"].rule_id}.get(name)
                queries.append({name: value if value is not None else values.get(name, b["agency"]["id"])})
        for q in queries:
            r = await api.call(method, url, me, params=q)
            assert r.status_code in (200, 403, 404), (method, url, q, r.status_code, r.text)
            assert MARK not in r.text, (method, url, q, r.text)
            checked += 1
    assert checked >= 30
    assert await _snapshot(api, b) == before
    # Not vacuous: the officer does see their own agency's objects.
    assert (await api.ok("GET", f"/api/v1/alert-groups/{a['group']['id']}", me))["agency"] == "aaa"
    assert (await api.ok("GET", f"/api/v1/systems/{a['system']['id']}", me))["code"] == "aaa-system"
    await api.ok("PATCH", f"/api/v1/agencies/{a['agency']['id']}", me, json={"name": "renamed by A"})
    assert (await api.ok("GET", f"/api/v1/incidents/{a['incident']['id']}", me))["title"] == "aaa incident"
    assert [v["id"] for v in (await api.ok("GET", "/api/v1/saved-views", me))["items"]] == [a["view"]["id"]]
    mine = await api.ok("GET", "/api/v1/tasks", me)
    assert [t["id"] for t in mine["items"]] == [a["task"]["id"]]
