"""``/api/v1/saved-views``: per-user views with canonical, validated queries; sharing with the SOC (never
with agency officers); who may change what; one default per user; the audit trail; the filter
vocabulary that judges both saved views and the queue's address."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from citysoc.api.views import filters
from citysoc.db import SavedViewDefault

from ..conftest import Api

BASE = "/api/v1/saved-views"


async def _audit(api: Api, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await api.ok("GET", "/api/v1/audit", params={"action": action, "limit": 100})
    )["items"]
    return items


@pytest.mark.parametrize(
    ("query", "canonical", "problems"),
    [
        ("", "view=grouped", 0),
        ("range=24h&level=high&view=flat", "view=flat&level=high&range=24h", 0),
        (
            "status=new&q=%C4%91%C4%83ng+nh%E1%BA%ADp&sort=-count&limit=100",
            "view=grouped&status=new&q=%C4%91%C4%83ng+nh%E1%BA%ADp&sort=-count&limit=100",
            0,
        ),
        ("level=&rule=", "view=grouped", 0),  # empty means no filter
        ("sort=-last_seen&limit=50&view=grouped", "view=grouped", 0),  # defaults are left out
        ("level=severe&limit=7&view=table&range=1y&sort=name", "view=grouped", 5),
        ("cursor=abc&lang=en", "view=grouped", 2),  # paging and language are not part of a view
        ("level=high&level=low", "view=grouped&level=high", 1),
        ("rule=" + "r" * 201, "view=grouped", 1),
    ],
)
def test_filter_vocabulary(query: str, canonical: str, problems: int) -> None:
    got = filters.parse(query)
    assert got.query() == canonical
    assert len(got.problems) == problems, got.problems


async def test_create_list_patch_delete_with_audit(api: Api) -> None:
    _, ana = await api.user("ana", "soc_analyst")
    made = await api.ok(
        "POST", BASE, ana, json={"name": "Nguy cấp", "query": "range=7d&level=critical&view=flat"}, status=201
    )
    assert made["query"] == "view=flat&level=critical&range=7d" and made["view"] == "flat"
    assert (made["mine"], made["shared"], made["default"], made["owner"]) == (True, False, False, "ana")
    vid = made["id"]
    await api.ok("POST", BASE, ana, json={"name": "A", "query": "status=new"}, status=201)
    listed = await api.ok("GET", BASE, ana)
    assert [v["name"] for v in listed["items"]] == ["A", "Nguy cấp"]  # by name
    page = await api.ok("GET", BASE, ana, params={"limit": 1, "sort": "-name"})
    assert [v["name"] for v in page["items"]] == ["Nguy cấp"] and page["next_cursor"]
    rest = await api.ok("GET", BASE, ana, params={"limit": 1, "sort": "-name", "cursor": page["next_cursor"]})
    assert [v["name"] for v in rest["items"]] == ["A"] and rest["next_cursor"] is None

    # Validation: unknown keys and values are refused; names are unique per owner.
    bad = await api.call("POST", BASE, ana, json={"name": "x", "query": "level=severe&evil=1"})
    assert bad.status_code == 422 and "evil" in bad.json()["detail"] and "severe" in bad.json()["detail"]
    assert (await api.call("POST", BASE, ana, json={"name": "A"})).status_code == 409
    assert (await api.call("PATCH", f"{BASE}/{vid}", ana, json={"name": "A"})).status_code == 409
    assert (await api.call("POST", BASE, ana, json={"name": "x\x00"})).status_code == 422

    patched = await api.ok("PATCH", f"{BASE}/{vid}", ana, json={"query": "level=high", "default": True})
    assert patched["query"] == "view=grouped&level=high" and patched["default"] is True
    assert (await api.ok("GET", f"{BASE}/{vid}", ana))["default"] is True
    await api.ok("DELETE", f"{BASE}/{vid}", ana, status=204)
    assert (await api.call("GET", f"{BASE}/{vid}", ana)).status_code == 404
    async with api.db.session() as s:  # the default went with the view
        assert await s.scalar(sa.select(sa.func.count()).select_from(SavedViewDefault)) == 0

    create, update, default, delete = [
        await _audit(api, f"saved_view.{a}") for a in ("create", "update", "default", "delete")
    ]
    assert len(create) == 2 and create[-1]["after"]["query"] == "view=flat&level=critical&range=7d"
    assert update[0]["before"]["query"] == "view=flat&level=critical&range=7d"
    assert update[0]["after"]["query"] == "view=grouped&level=high"
    assert default[0]["after"] == {"default_view_id": vid}
    assert delete[0]["object_id"] == str(vid) and all("ana" in e["actor"] for e in create + delete)


async def test_sharing_visibility_and_who_may_change(api: Api) -> None:
    q1 = await api.agency("q1")
    _, lead = await api.user("lead", "soc_lead")
    _, ana = await api.user("ana", "soc_analyst")
    _, boss = await api.user("boss", "city_soc_admin")
    _, aud = await api.user("aud", "auditor")
    _, officer = await api.user("officer", "agency_officer", q1["id"])

    assert (await api.call("POST", BASE, ana, json={"name": "x", "shared": True})).status_code == 403
    shared = await api.ok(
        "POST", BASE, lead, json={"name": "Ca đêm", "query": "status=new", "shared": True}, status=201
    )
    own = await api.ok("POST", BASE, lead, json={"name": "Riêng", "query": "level=low"}, status=201)
    sid, oid = shared["id"], own["id"]

    # Every SOC member sees the shared view, nobody else's private one; officers see no shared view.
    for token in (ana, aud, boss):
        names = [v["name"] for v in (await api.ok("GET", BASE, token))["items"]]
        assert names == ["Ca đêm"], names
    assert (await api.ok("GET", BASE, officer))["items"] == []
    for token in (ana, boss, officer):
        assert (await api.call("GET", f"{BASE}/{oid}", token)).status_code == 404
    assert (await api.call("GET", f"{BASE}/{sid}", officer)).status_code == 404
    assert [v["name"] for v in (await api.ok("GET", BASE))["items"]] == ["Ca đêm"]  # config admin token

    # Not the owner: no edits, no deletion; the caller's own default is theirs to choose.
    for body in ({"name": "mine now"}, {"query": "level=high"}, {"shared": False}):
        assert (await api.call("PATCH", f"{BASE}/{sid}", ana, json=body)).status_code == 403
    assert (await api.call("DELETE", f"{BASE}/{sid}", ana)).status_code == 403
    assert (await api.ok("PATCH", f"{BASE}/{sid}", ana, json={"default": True}))["default"] is True
    assert (await api.ok("GET", f"{BASE}/{sid}", lead))["default"] is False  # not the owner's default
    # Auditors read only.
    assert (await api.call("POST", BASE, aud, json={"name": "x"})).status_code == 403
    assert (await api.call("PATCH", f"{BASE}/{sid}", aud, json={"default": True})).status_code == 403
    # A config admin token owns no views and has no default.
    assert (await api.call("POST", BASE, json={"name": "x"})).status_code == 403
    assert (await api.call("PATCH", f"{BASE}/{sid}", json={"default": True})).status_code == 403

    # The city SOC admin edits another's shared view; unsharing drops it from others' defaults.
    renamed = await api.ok("PATCH", f"{BASE}/{sid}", boss, json={"name": "Ca đêm (mới)", "shared": False})
    assert renamed["owner"] == "lead" and renamed["shared"] is False
    assert (await api.call("GET", f"{BASE}/{sid}", ana)).status_code == 404
    async with api.db.session() as s:
        assert (await s.scalars(sa.select(SavedViewDefault))).all() == []
    assert (
        await api.call("PATCH", f"{BASE}/{sid}", boss, json={"name": "again"})
    ).status_code == 404  # private now
    await api.ok("PATCH", f"{BASE}/{sid}", lead, json={"shared": True})
    await api.ok("DELETE", f"{BASE}/{sid}", boss, status=204)
    changes = await _audit(api, "saved_view.update")
    assert [("boss" in e["actor"], e["after"]["shared"]) for e in changes] == [
        (False, True),
        (True, False),
    ]  # newest first


async def test_officer_views_stay_in_their_agency(api: Api) -> None:
    q1 = await api.agency("q1")
    _, officer = await api.user("officer", "agency_officer", q1["id"])
    foreign = await api.call("POST", BASE, officer, json={"name": "x", "query": "agency=q3"})
    assert foreign.status_code == 403
    assert (await api.call("POST", BASE, officer, json={"name": "x", "shared": True})).status_code == 403
    made = await api.ok(
        "POST", BASE, officer, json={"name": "Quận 1", "query": "agency=q1&view=flat"}, status=201
    )
    assert made["query"] == "view=flat&agency=q1"
    vid = made["id"]
    patched = await api.call("PATCH", f"{BASE}/{vid}", officer, json={"query": "agency=q3"})
    assert patched.status_code == 403
    entries = await _audit(api, "saved_view.create")
    assert [e["agency"] for e in entries] == ["q1"]  # officers' changes are filed under their agency
