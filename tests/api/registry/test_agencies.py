"""``/api/v1/agencies``: CRUD, cursor pagination with every sort, filters, problem+json errors."""

from __future__ import annotations

import pytest

from ..conftest import Api


async def test_crud_and_audit(api: Api) -> None:
    parent = await api.agency("hcm", kind="city_department", name="Sở TT&TT")
    contacts = [{"name": "Trực ban", "role": "24/7", "phone": "+84 28 0000", "email": "soc@example.vn"}]
    child = await api.agency("q1", parent_id=parent["id"], contacts=contacts)
    assert child["parent_id"] == parent["id"] and child["contacts"] == contacts
    got = await api.ok("GET", f"/api/v1/agencies/{child['id']}")
    assert got == child
    patched = await api.ok(
        "PATCH", f"/api/v1/agencies/{child['id']}", json={"name": "Quận 1", "kind": "district"}
    )
    assert patched["name"] == "Quận 1" and patched["code"] == "q1"
    await api.ok("DELETE", f"/api/v1/agencies/{child['id']}", status=204)
    r = await api.call("GET", f"/api/v1/agencies/{child['id']}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    log = await api.ok(
        "GET", "/api/v1/audit", params={"object_type": "agency", "object_id": str(child["id"])}
    )
    assert [e["action"] for e in log["items"]] == ["agency.delete", "agency.update", "agency.create"]
    assert log["items"][1]["before"]["name"] == "Agency q1" and log["items"][1]["after"]["name"] == "Quận 1"


@pytest.mark.parametrize("sort", ["code", "-code", "name", "-name", "created_at", "-created_at"])
async def test_pages_cover_every_row_once_in_order(api: Api, sort: str) -> None:
    codes = [f"a{i:02d}" for i in range(23)]
    for i, c in enumerate(codes):
        await api.agency(c, name=f"N{(i * 7) % 5}")  # repeated names: ties broken by id
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        params: dict[str, object] = {"sort": sort, "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = await api.ok("GET", "/api/v1/agencies", params=params)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(a["code"] for a in seen) == codes and len(seen) == len(codes)
    field = sort.removeprefix("-")
    keys = [(a[field], a["id"]) for a in seen]
    assert keys == sorted(keys, reverse=sort.startswith("-"))


async def test_filters(api: Api) -> None:
    city = await api.agency("city", kind="city_department")
    await api.agency("w1", kind="ward", parent_id=city["id"], name="Phường Bến Nghé")
    await api.agency("w2", kind="ward", name="Phường 100%_x")
    await api.agency("psu", kind="public_service_unit", parent_id=city["id"])
    by_kind = await api.ok("GET", "/api/v1/agencies", params={"kind": "ward"})
    assert [a["code"] for a in by_kind["items"]] == ["w1", "w2"]
    by_parent = await api.ok("GET", "/api/v1/agencies", params={"parent_id": city["id"]})
    assert [a["code"] for a in by_parent["items"]] == ["psu", "w1"]
    by_text = await api.ok("GET", "/api/v1/agencies", params={"q": "bến"})
    assert [a["code"] for a in by_text["items"]] == ["w1"]
    literal = await api.ok("GET", "/api/v1/agencies", params={"q": "%_"})  # wildcards are literal
    assert [a["code"] for a in literal["items"]] == ["w2"]


async def test_errors_are_problems(api: Api) -> None:
    a = await api.agency("dup")
    cases = [
        ("POST", "/api/v1/agencies", {"code": "dup", "name": "x", "kind": "ward"}, 409),
        ("POST", "/api/v1/agencies", {"code": "Bad Code", "name": "x", "kind": "ward"}, 422),
        ("POST", "/api/v1/agencies", {"code": "x", "name": "x", "kind": "ward", "parent_id": 999999}, 422),
        ("POST", "/api/v1/agencies", {"code": "x", "name": "x", "kind": "ward", "extra": 1}, 422),
        ("PATCH", f"/api/v1/agencies/{a['id']}", {"parent_id": a["id"]}, 422),
        ("PATCH", f"/api/v1/agencies/{a['id']}", {"name": None}, 422),
        ("GET", "/api/v1/agencies?cursor=not-a-cursor", None, 400),
        ("GET", "/api/v1/agencies?sort=nope", None, 422),
        ("GET", "/api/v1/agencies/0", None, 422),
        ("GET", "/api/v1/agencies/99999999999", None, 422),
    ]
    for method, path, body, status in cases:
        r = await api.call(method, path, json=body)
        assert r.status_code == status, (method, path, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == status


async def test_cycles_and_references_are_refused(api: Api) -> None:
    a = await api.agency("a")
    b = await api.agency("b", parent_id=a["id"])
    c = await api.agency("c", parent_id=b["id"])
    r = await api.call("PATCH", f"/api/v1/agencies/{a['id']}", json={"parent_id": c["id"]})
    assert r.status_code == 422 and "cycle" in r.json()["detail"]
    r = await api.call("DELETE", f"/api/v1/agencies/{b['id']}")
    assert r.status_code == 409 and "agencies" in r.json()["detail"]
    cursor_for_code = (await api.ok("GET", "/api/v1/agencies", params={"limit": 1}))["next_cursor"]
    r = await api.call("GET", "/api/v1/agencies", params={"sort": "-name", "cursor": cursor_for_code})
    assert r.status_code == 400  # a cursor is bound to its sort
