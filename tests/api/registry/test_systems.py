"""``/api/v1/systems``: the registry entry of an information system, validated and audited."""

from __future__ import annotations

from typing import Any

from ..conftest import Api


def system_body(code: str, owner: int, operator: int | None = None, **kw: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": f"System {code}",
        "owner_agency_id": owner,
        "operator_agency_id": operator or owner,
        "function_class": "citizen_services",
        **kw,
    }


async def test_full_entry_round_trips(api: Api) -> None:
    owner = await api.agency("dost", kind="city_department")
    op = await api.agency("hcmc-dc", kind="public_service_unit")
    body = system_body(
        "dvc-portal",
        owner["id"],
        op["id"],
        information_types=["public", "personal", "public"],
        security_level=3,
        approval={"number": "123/QĐ-STTTT", "date": "2025-03-01", "approver": "Giám đốc Sở"},
        addresses=["203.0.113.10", "198.51.100.0/24", "2001:db8::1"],
        domains=["DichVuCong.HoChiMinhCity.gov.vn."],
        services=["nginx 1.24", "PostgreSQL 15"],
        security_measures=["WAF", "EDR"],
        security_provider="City SOC",
        connectivity_provider="VNPT",
        protection={
            "onsite_staff": True,
            "professional_monitoring": True,
            "independent_assessment": True,
            "last_assessment_date": "2026-06-30",
            "national_monitoring": False,
        },
        log_sources=["10.0.0.0/24", "web01"],
    )
    s = await api.ok("POST", "/api/v1/systems", json=body, status=201)
    assert s["information_types"] == ["public", "personal"]
    assert s["addresses"] == ["203.0.113.10/32", "198.51.100.0/24", "2001:db8::1/128"]
    assert s["domains"] == ["dichvucong.hochiminhcity.gov.vn"]
    assert s["approval"] == body["approval"] and s["protection"] == body["protection"]
    assert await api.ok("GET", f"/api/v1/systems/{s['id']}") == s
    p = await api.ok("PATCH", f"/api/v1/systems/{s['id']}", json={"security_level": 4, "protection": {}})
    assert (
        p["security_level"] == 4 and p["protection"]["onsite_staff"] is False and p["domains"] == s["domains"]
    )
    log = await api.ok("GET", "/api/v1/audit", params={"object_type": "system"})
    assert (
        log["items"][0]["before"]["security_level"] == 3 and log["items"][0]["after"]["security_level"] == 4
    )
    assert log["items"][0]["agency"] == "dost"


async def test_invalid_entries_are_refused(api: Api) -> None:
    a = await api.agency("a")
    bad = [
        system_body("s", a["id"], security_level=6),
        system_body("s", a["id"], security_level=0),
        system_body("s", a["id"], addresses=["300.1.1.1"]),
        system_body("s", a["id"], domains=["not a domain"]),
        system_body("s", a["id"], function_class="games"),
        system_body("s", a["id"], information_types=["secret-ish"]),
        system_body("s", 424242),
        system_body("bad code", a["id"]),
    ]
    for body in bad:
        r = await api.call("POST", "/api/v1/systems", json=body)
        assert r.status_code == 422, (body, r.text)
    await api.ok("POST", "/api/v1/systems", json=system_body("s", a["id"]), status=201)
    r = await api.call("POST", "/api/v1/systems", json=system_body("s", a["id"]))
    assert r.status_code == 409
    r = await api.call("DELETE", f"/api/v1/agencies/{a['id']}")
    assert r.status_code == 409  # still owns a system


async def test_filter_and_sort_by_level(api: Api) -> None:
    a = await api.agency("a")
    b = await api.agency("b")
    for i, level in enumerate([3, None, 1, 5, 3, 2]):
        owner = a if i % 2 == 0 else b
        await api.ok(
            "POST",
            "/api/v1/systems",
            json=system_body(f"s{i}", owner["id"], b["id"], security_level=level),
            status=201,
        )
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await api.ok(
            "GET",
            "/api/v1/systems",
            params={"sort": "-security_level", "limit": 2} | ({"cursor": cursor} if cursor else {}),
        )
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [s["security_level"] for s in items] == [5, 3, 3, 2, 1, None]
    owned = await api.ok("GET", "/api/v1/systems", params={"owner_agency_id": a["id"]})
    assert [s["code"] for s in owned["items"]] == ["s0", "s2", "s4"]
    either = await api.ok("GET", "/api/v1/systems", params={"agency_id": b["id"]})
    assert len(either["items"]) == 6
    lvl = await api.ok("GET", "/api/v1/systems", params={"security_level": 3})
    assert [s["code"] for s in lvl["items"]] == ["s0", "s4"]
