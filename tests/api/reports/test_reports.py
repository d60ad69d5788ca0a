"""Incident reports (forms 03/04, progress): pre-filled from registry and incident, draft → approved
→ sent with the document's SHA-256, the clock stops at the first sent initial report; periodic city
reports equal counts computed here in plain Python over the objects the API returned."""

from __future__ import annotations

import csv
import hashlib
import io
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from citysoc.api.reports.periodic import window

from ..conftest import Api
from ..incidents.support import incident, move, world


async def test_initial_progress_and_end_reports(api: Api) -> None:
    w = await world(api)
    inc = await incident(
        api, title="Portal defaced", group_ids=[w.groups["a"]["id"], w.groups["b"]["id"]], tlp="TLP:RED"
    )
    iid = inc["id"]
    r = await api.ok("POST", f"/api/v1/incidents/{iid}/reports", json={"kind": "initial"}, status=201)
    f = r["fields"]
    assert r["number"] == f"{inc['code']}/R1" and r["status"] == "draft"
    assert f["system_name"] == "portal system" and f["system_security_level"] == "3"
    assert f["owner_agency"] == f["operating_agency"] == "Agency q1"
    assert f["public_ips"] == ["203.0.113.10"] and f["domains"] == ["portal.example.vn"]
    assert f["security_provider"] == "City SOC" and f["connectivity_provider"] == "VNPT"
    assert f["reporter_organisation"] == "City SOC" and f["confidentiality_request"] == "TLP:RED"
    assert "r-brute" in f["detection_method"] and "r-web" in f["detection_method"]
    assert f["detected_at"] == inc["detected_at"].replace("Z", "+00:00")
    assert r["subject"].startswith("[TBSC] " + inc["code"])
    assert r["sha256"] == hashlib.sha256(r["document"].encode()).hexdigest()
    doc = await api.call("GET", f"/api/v1/reports/{r['id']}/document")
    assert doc.text == r["document"] and doc.headers["x-content-sha256"] == r["sha256"]
    assert "Security level: 3" in doc.text

    edited = await api.ok(
        "PATCH", f"/api/v1/reports/{r['id']}", json={"fields": {"support_requested": "forensics"}}
    )
    assert edited["sha256"] != r["sha256"] and "Support requested: forensics" in edited["document"]
    assert (
        await api.call("PATCH", f"/api/v1/reports/{r['id']}", json={"fields": {"nope": "x"}})
    ).status_code == 422
    t = f"/api/v1/reports/{r['id']}/transition"
    assert (await api.call("POST", t, json={"to": "sent"})).status_code == 409  # not approved yet
    approved = await api.ok("POST", t, json={"to": "approved"})
    assert approved["approved_by"] == "config-admin" and approved["sha256"] == edited["sha256"]
    assert (await api.call("PATCH", f"/api/v1/reports/{r['id']}", json={"fields": {}})).status_code == 409
    # An officer of the affected agency reads the reports but cannot draft or approve.
    _, officer = await api.user("officer1", "agency_officer", w.agencies["q1"]["id"])
    assert [x["id"] for x in await api.ok("GET", f"/api/v1/incidents/{iid}/reports", officer)] == [r["id"]]
    assert (
        await api.call("POST", f"/api/v1/incidents/{iid}/reports", officer, json={"kind": "progress"})
    ).status_code == 403
    assert (await api.call("POST", t, officer, json={"to": "sent"})).status_code == 403
    clock = await api.ok("GET", "/api/v1/incidents/report-clock")
    assert iid in [i["id"] for i in clock["items"]]
    sent = await api.ok("POST", t, json={"to": "sent"})
    assert sent["sent_at"] is not None
    got = await api.ok("GET", f"/api/v1/incidents/{iid}")
    assert got["initial_report"]["state"] == "sent" and got["initial_report"]["sent_at"] == sent["sent_at"]
    assert iid not in [i["id"] for i in (await api.ok("GET", "/api/v1/incidents/report-clock"))["items"]]
    for to in ("draft", "approved", "sent"):
        assert (await api.call("POST", t, json={"to": to})).status_code == 409

    progress = await api.ok(
        "POST",
        f"/api/v1/incidents/{iid}/reports",
        json={"kind": "progress", "fields": {"actions_taken": "blocked IPs"}},
        status=201,
    )
    assert progress["number"].endswith("/R2") and progress["fields"]["actions_taken"] == "blocked IPs"
    r = await api.call("POST", f"/api/v1/incidents/{iid}/reports", json={"kind": "end"})
    assert r.status_code == 409  # not resolved yet
    await move(api, iid, "triage", "in_progress", "resolved")
    end = await api.ok("POST", f"/api/v1/incidents/{iid}/reports", json={"kind": "end"}, status=201)
    assert end["fields"]["initial_report_number"] == sent["number"]
    assert end["fields"]["initial_report_date"] == sent["sent_at"][:10]
    assert end["fields"]["attachments"] == [progress["number"]]
    actions = [e["action"] for e in (await api.ok("GET", f"/api/v1/incidents/{iid}/timeline"))["items"]]
    assert actions.count("incident.report.create") == 3 and actions.count("incident.report.transition") == 2
    assert (await api.call("GET", "/api/v1/reports/999999")).status_code == 404


async def _fixtures(api: Api) -> dict[str, Any]:
    w = await world(api)
    q1, q2, q3 = (w.agencies[c]["id"] for c in ("q1", "q2", "q3"))
    now = datetime.now(UTC)
    specs: list[dict[str, Any]] = [
        {
            "title": "A",
            "detected_at": "2026-07-15T10:00:00Z",
            "severity": "high",
            "category": "malware",
            "affected_agency_ids": [q1],
        },
        {
            "title": "B",
            "detected_at": "2026-10-05T00:00:00Z",
            "severity": "low",
            "category": "phishing",
            "affected_agency_ids": [q1, q2],
            "serious": True,
        },
        {"title": "C", "group_ids": [w.groups["a"]["id"]], "severity": "critical", "category": "intrusion"},
        {
            "title": "D",
            "detected_at": "2026-12-31T23:59:59Z",
            "severity": "medium",
            "category": "malware",
            "affected_agency_ids": [q3],
        },
        {
            "title": "E",
            "detected_at": "2027-01-01T00:00:00Z",
            "severity": "medium",
            "category": "malware",
            "affected_agency_ids": [q3],
        },
        {"title": "F", "group_ids": [w.groups["c"]["id"]], "severity": "low", "category": "intrusion"},
        {
            "title": "G",
            "detected_at": (now - timedelta(days=1)).isoformat(),
            "category": "phishing",
            "affected_agency_ids": [q2],
        },
        {
            "title": "H",
            "detected_at": "2026-11-20T00:00:00Z",
            "category": "scan",
            "affected_agency_ids": [q2],
        },
    ]
    made = {s["title"]: await incident(api, **s) for s in specs}
    await move(api, made["C"]["id"], "triage", "in_progress", "containment", "recovery", "resolved")
    await move(api, made["B"]["id"], "triage", "in_progress", "resolved")
    await move(api, made["H"]["id"], "dismissed", reason="scanner test")
    await api.ok("POST", f"/api/v1/incidents/{made['C']['id']}/merge", json={"incident_id": made["F"]["id"]})
    for name in ("C", "G"):
        rep = await api.ok(
            "POST", f"/api/v1/incidents/{made[name]['id']}/reports", json={"kind": "initial"}, status=201
        )
        for to in ("approved", "sent"):
            await api.ok("POST", f"/api/v1/reports/{rep['id']}/transition", json={"to": to})
    await api.ok(
        "PATCH",
        f"/api/v1/systems/{w.systems['portal']['id']}",
        json={"protection": {"professional_monitoring": True, "national_monitoring": True}},
    )
    incidents = [await api.ok("GET", f"/api/v1/incidents/{i['id']}") for i in made.values()]
    groups = (await api.ok("GET", "/api/v1/alert-groups", params={"limit": 100}))["items"]
    systems = (await api.ok("GET", "/api/v1/systems"))["items"]
    codes = {a["id"]: a["code"] for a in w.agencies.values()}
    return {"incidents": incidents, "groups": groups, "systems": systems, "codes": codes}


def _at(s: str) -> datetime:
    return datetime.fromisoformat(s)


def _expected(data: dict[str, Any], year: int, period: str) -> dict[str, Any]:
    start, end = window(year, period)  # type: ignore[arg-type]
    inc = [
        i for i in data["incidents"] if start <= _at(i["detected_at"]) < end and i["merged_into_id"] is None
    ]

    def counts(values: list[str]) -> list[dict[str, Any]]:
        return [
            {"key": k, "count": n} for k, n in sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def durations(metric: str) -> dict[str, Any]:
        v = [i["metrics"][metric] for i in inc if i["metrics"][metric] is not None]
        return {
            "count": len(v),
            "mean_s": statistics.fmean(v) if v else None,
            "median_s": statistics.median(v) if v else None,
        }

    sent = [i["initial_report"] for i in inc if i["initial_report"]["sent_at"]]
    groups = [g for g in data["groups"] if start <= _at(g["first_seen"]) < end]
    rules = sorted(
        (
            {
                "rule_id": r,
                "groups": sum(1 for g in groups if g["rule_id"] == r),
                "alerts": sum(g["count"] for g in groups if g["rule_id"] == r),
            }
            for r in {g["rule_id"] for g in groups}
        ),
        key=lambda x: (-x["alerts"], -x["groups"], x["rule_id"]),
    )
    s = data["systems"]
    return {
        "incidents": len(inc),
        "serious": sum(i["serious"] for i in inc),
        "by_status": counts([i["status"] for i in inc]),
        "by_severity": counts([i["severity"] for i in inc]),
        "by_category": counts([i["category"] for i in inc]),
        "by_agency": counts([data["codes"][a] for i in inc for a in i["affected_agency_ids"]]),
        "time_to_acknowledge": durations("time_to_acknowledge_s"),
        "time_to_contain": durations("time_to_contain_s"),
        "time_to_resolve": durations("time_to_resolve_s"),
        "initial_reports_on_time": sum(_at(r["sent_at"]) <= _at(r["due_at"]) for r in sent),
        "initial_reports_late": sum(_at(r["sent_at"]) > _at(r["due_at"]) for r in sent),
        "initial_reports_missing": sum(
            1 for i in inc if not i["initial_report"]["sent_at"] and i["status"] != "dismissed"
        ),
        "top_rules": rules[:10],
        "coverage": {
            "systems": len(s),
            **{
                k: sum(1 for x in s if x["protection"][k])
                for k in (
                    "onsite_staff",
                    "professional_monitoring",
                    "independent_assessment",
                    "national_monitoring",
                )
            },
        },
    }


@pytest.mark.parametrize("period", ["q3", "q4", "h2", "year", "q1"])
async def test_periodic_report_equals_independent_counts(api: Api, period: str) -> None:
    data = await _fixtures(api)
    got = await api.ok("GET", "/api/v1/reports/periodic", params={"year": 2026, "period": period})
    expected = _expected(data, 2026, period)
    durations = ("time_to_acknowledge", "time_to_contain", "time_to_resolve")
    assert {k: got[k] for k in expected if k not in durations} == {
        k: v for k, v in expected.items() if k not in durations
    }
    for k in durations:
        assert got[k]["count"] == expected[k]["count"], k
        for stat in ("mean_s", "median_s"):
            assert got[k][stat] == (
                None if expected[k][stat] is None else pytest.approx(expected[k][stat])
            ), k
    if period in ("q4", "year"):  # not vacuous
        assert got["incidents"] >= 4 and got["top_rules"] and got["by_agency"]
        assert got["coverage"]["professional_monitoring"] == 1
    if period == "q1":
        assert got["incidents"] == 0 and got["time_to_resolve"]["median_s"] is None

    r = await api.call(
        "GET", "/api/v1/reports/periodic", params={"year": 2026, "period": period, "format": "csv"}
    )
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    total = next(x for x in rows if (x["section"], x["key"]) == ("totals", "incidents"))
    assert int(total["value"]) == expected["incidents"]
    by_sev = {x["key"]: int(x["value"]) for x in rows if x["section"] == "by_severity"}
    assert by_sev == {c["key"]: c["count"] for c in expected["by_severity"]}
    page = await api.call(
        "GET", "/api/v1/reports/periodic", params={"year": 2026, "period": period, "format": "html"}
    )
    assert page.headers["content-type"].startswith("text/html") and "<h2>totals</h2>" in page.text


async def test_periodic_report_needs_stats_permission(api: Api) -> None:
    a = await api.agency("q9")
    _, officer = await api.user("officer9", "agency_officer", a["id"])
    r = await api.call("GET", "/api/v1/reports/periodic", officer, params={"year": 2026})
    assert r.status_code == 403
