"""End to end on the embedded default: events sent to the collector become an alert group; an
analyst turns it into an incident, agencies work their tasks, the initial report is approved and
sent (the clock stops), the STIX bundle is exported, the end report is drafted and the incident is
closed; the audit chain verifies throughout."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stix2

from ..groups.test_embedded_feed import e2e, encoded_powershell, wait_groups

pytestmark = pytest.mark.integration
start_embedded = e2e.start_embedded


def test_alert_to_closed_incident(start_embedded: Any) -> None:
    emb = start_embedded()
    admin = e2e.auth(e2e.ADMIN)

    def call(method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = httpx.request(method, f"{emb.url}{path}", headers=admin, timeout=30, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text

    q1 = call("POST", "/api/v1/agencies", 201, json={"code": "q1", "name": "District 1", "kind": "district"})
    portal = call(
        "POST",
        "/api/v1/systems",
        201,
        json={
            "code": "q1-portal",
            "name": "District 1 portal",
            "owner_agency_id": q1["id"],
            "operator_agency_id": q1["id"],
            "function_class": "citizen_services",
            "security_level": 2,
        },
    )
    body = b"\n".join(encoded_powershell(900_000 + i) for i in range(5))
    r = httpx.post(f"{emb.url}/api/v1/ingest", content=body, headers=e2e.auth(e2e.INGEST["q1"]), timeout=30)
    assert r.status_code == 202
    (group,) = wait_groups(emb.url, lambda items: sum(g["count"] for g in items) >= 5, 60)

    inc = call(
        "POST", "/api/v1/incidents", 201, json={"title": "Encoded PowerShell", "group_ids": [group["id"]]}
    )
    assert inc["affected_agency_ids"] == [q1["id"]], inc
    iid = inc["id"]
    assert group["system"] == "q1-portal" and inc["system_ids"] == [portal["id"]]
    task = call(
        "POST",
        f"/api/v1/incidents/{iid}/tasks",
        201,
        json={"title": "Reimage ws-017", "agency_id": q1["id"], "mandatory": True},
    )
    call(
        "POST",
        f"/api/v1/incidents/{iid}/observables",
        201,
        json={"kind": "file_name", "value": "powershell.exe"},
    )
    for to in ("triage", "in_progress", "containment"):
        call("POST", f"/api/v1/incidents/{iid}/transition", json={"to": to})
    report = call("POST", f"/api/v1/incidents/{iid}/reports", 201, json={"kind": "initial"})
    for to in ("approved", "sent"):
        call("POST", f"/api/v1/reports/{report['id']}/transition", json={"to": to})
    assert call("GET", f"/api/v1/incidents/{iid}")["initial_report"]["state"] == "sent"
    bundle = stix2.parse(call("GET", f"/api/v1/incidents/{iid}/stix"), allow_custom=False)
    assert {"indicator", "sighting", "report"} <= {o.type for o in bundle.objects}

    call("PATCH", f"/api/v1/incidents/{iid}/tasks/{task['id']}", json={"status": "done"})
    for to in ("recovery", "resolved"):
        call("POST", f"/api/v1/incidents/{iid}/transition", json={"to": to})
    end = call(
        "POST",
        f"/api/v1/incidents/{iid}/reports",
        201,
        json={"kind": "end", "fields": {"outcome": "contained"}},
    )
    assert end["fields"]["initial_report_number"] == report["number"]
    call("PATCH", f"/api/v1/incidents/{iid}", json={"determination": "true_positive", "summary": "Reimaged."})
    closed = call("POST", f"/api/v1/incidents/{iid}/transition", json={"to": "closed"})
    assert closed["status"] == "closed" and closed["metrics"]["time_to_resolve_s"] is not None
    assert call("GET", "/api/v1/audit/verify")["ok"] is True
    metrics = httpx.get(f"{emb.url}/metrics", timeout=10).text
    assert "citysoc_incidents_report_overdue 0.0" in metrics
