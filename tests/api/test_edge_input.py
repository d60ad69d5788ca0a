"""Inputs the fuzzer (``test_fuzz.py``) found reaching the database or the clock and failing with a
server error; each must be refused with a problem (4xx) on both databases."""

from __future__ import annotations

import pytest

from .conftest import PASSWORD, Api

NUL = "a\x00b"


async def _agency_and_system(api: Api) -> tuple[int, int]:
    agency = await api.agency("q1")
    system = await api.ok(
        "POST",
        "/api/v1/systems",
        json={
            "code": "portal",
            "name": "Portal",
            "owner_agency_id": agency["id"],
            "operator_agency_id": agency["id"],
            "function_class": "other",
        },
        status=201,
    )
    return agency["id"], system["id"]


async def test_text_holding_nul_is_refused(api: Api) -> None:
    agency_id, system_id = await _agency_and_system(api)
    user = await api.ok(
        "POST",
        "/api/v1/users",
        json={"username": "ana", "role": "soc_analyst", "password": PASSWORD},
        status=201,
    )
    calls = [
        ("POST", "/api/v1/agencies", {"json": {"code": "q2", "name": NUL, "kind": "ward"}}),
        ("PATCH", f"/api/v1/agencies/{agency_id}", {"json": {"name": NUL}}),
        ("PATCH", f"/api/v1/agencies/{agency_id}", {"json": {"contacts": [{"name": NUL}]}}),
        ("PATCH", f"/api/v1/systems/{system_id}", {"json": {"name": NUL}}),
        ("PATCH", f"/api/v1/systems/{system_id}", {"json": {"services": [NUL]}}),
        ("PATCH", f"/api/v1/users/{user['id']}", {"json": {"display_name": NUL}}),
        ("POST", "/api/v1/auth/login", {"json": {"username": NUL, "password": PASSWORD}}),
        ("GET", "/api/v1/audit", {"params": {"action": NUL}}),
        ("GET", "/api/v1/audit", {"params": {"object_type": NUL}}),
    ]
    for method, path, kw in calls:
        r = await api.call(method, path, **kw)
        assert r.status_code == 422, (method, path, kw, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (await api.ok("GET", f"/api/v1/agencies/{agency_id}"))["name"] == "Agency q1"


@pytest.mark.parametrize(
    "path", ["/api/v1/alerts", "/api/v1/monitoring", "/api/v1/alert-groups", "/api/v1/audit"]
)
async def test_time_filters_out_of_range_are_refused(api: Api, path: str) -> None:
    for value in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1969-12-31T23:59:59Z"):
        for name in ("since", "until"):
            r = await api.call("GET", path, params={name: value})
            assert r.status_code == 422, (path, name, value, r.status_code, r.text)
    ok = await api.call(
        "GET", path, params={"since": "2026-11-01T00:00:00+07:00", "until": "2026-11-02T00:00:00"}
    )
    assert ok.status_code == 200, ok.text


async def test_deleting_what_an_incident_names_is_a_conflict(api: Api) -> None:
    agency_id, system_id = await _agency_and_system(api)
    await api.ok(
        "POST",
        "/api/v1/incidents",
        json={"title": "Defacement", "affected_agency_ids": [agency_id], "system_ids": [system_id]},
        status=201,
    )
    for path in (f"/api/v1/systems/{system_id}", f"/api/v1/agencies/{agency_id}"):
        r = await api.call("DELETE", path)
        assert r.status_code == 409, (path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    assert (await api.ok("GET", f"/api/v1/systems/{system_id}"))["id"] == system_id
