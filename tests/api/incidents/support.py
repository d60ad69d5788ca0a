"""A small world for the incident tests: agencies, systems, alert groups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from citysoc.api.groups.service import ingest_alerts

from ..conftest import Api
from ..groups.support import alert


@dataclass
class World:
    agencies: dict[str, dict[str, Any]]
    systems: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    """By host: ``a`` (q1/portal), ``b`` (q1/portal), ``c`` (q2/mail), ``d`` (q3, no system row)."""


async def system(api: Api, code: str, owner: int, **kw: Any) -> dict[str, Any]:
    body = {
        "code": code,
        "name": f"{code} system",
        "owner_agency_id": owner,
        "operator_agency_id": owner,
        "function_class": "citizen_services",
        **kw,
    }
    out: dict[str, Any] = await api.ok("POST", "/api/v1/systems", json=body, status=201)
    return out


async def world(api: Api) -> World:
    agencies = {code: await api.agency(code) for code in ("q1", "q2", "q3")}
    systems = {
        "portal": await system(
            api,
            "portal",
            agencies["q1"]["id"],
            security_level=3,
            addresses=["203.0.113.10"],
            domains=["portal.example.vn"],
            services=["nginx 1.24"],
            security_provider="City SOC",
            connectivity_provider="VNPT",
        ),
        "mail": await system(api, "mail", agencies["q2"]["id"], security_level=2),
    }
    alerts = [
        alert(1, host="a", agency="q1", system="portal", rule="r-brute", minutes=10),
        alert(2, host="a", agency="q1", system="portal", rule="r-brute", minutes=20),
        alert(3, host="b", agency="q1", system="portal", rule="r-web", minutes=5, level="critical"),
        alert(4, host="c", agency="q2", system="mail", rule="r-brute", minutes=30),
        alert(5, host="d", agency="q3", system="dns", rule="r-dns", minutes=40, level="low"),
    ]
    api.store.insert_alerts(alerts)
    await ingest_alerts(api.db, alerts)
    page = await api.ok("GET", "/api/v1/alert-groups", params={"limit": 50})
    groups = {g["key"]["host"]: g for g in page["items"]}
    return World(agencies, systems, groups)


async def incident(api: Api, token: str | None = None, **body: Any) -> dict[str, Any]:
    payload = {"title": "Incident", **body}
    kw = {"token": token} if token else {}
    out: dict[str, Any] = await api.ok("POST", "/api/v1/incidents", json=payload, status=201, **kw)
    return out


async def move(api: Api, iid: int, *states: str, reason: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in states:
        body = {"to": s} | ({"reason": reason} if reason else {})
        out = await api.ok("POST", f"/api/v1/incidents/{iid}/transition", json=body)
    return out
