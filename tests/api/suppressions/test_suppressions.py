"""Suppression rules: matching (pure), marking at creation and on every feed, occurrences still
counted, revocation and expiry release the groups, audit, validation, and the periodic report's
suppressed section equal to a count over the groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from citysoc.api.groups.service import ingest_alerts
from citysoc.api.suppressions.matching import Criteria, first_match, matches
from citysoc.db import Suppression

from ..conftest import Api
from ..groups.support import alert

GROUP = ("r-brute", "q1", "portal", {"host": "web01"})


@pytest.mark.parametrize(
    "c,expected",
    [
        (Criteria(1, rule_id="r-brute"), True),
        (Criteria(1, rule_id="r-other"), False),
        (Criteria(1, agency="q1", system="portal"), True),
        (Criteria(1, agency="q1", system="mail"), False),
        (Criteria(1, rule_id="r-brute", key={"host": "web01"}), True),
        (Criteria(1, rule_id="r-brute", key={"host": "web02"}), False),
        (Criteria(1, rule_id="r-brute", key={"user": "x"}), False),
        (Criteria(1, key={"host": "web01"}), False),  # no rule, agency or system: never everything
    ],
)
def test_matching(c: Criteria, expected: bool) -> None:
    assert matches(c, *GROUP) is expected


def test_first_match_is_the_oldest_rule() -> None:
    rules = [Criteria(7, agency="q1"), Criteria(3, rule_id="r-brute"), Criteria(9, rule_id="x")]
    assert first_match(rules, *GROUP) == 3
    assert first_match(rules[2:], *GROUP) is None


def _later(**kw: float) -> str:
    return (datetime.now(UTC) + timedelta(**kw)).isoformat()


async def _groups(api: Api, **params: Any) -> dict[str, dict[str, Any]]:
    page = await api.ok("GET", "/api/v1/alert-groups", params={"limit": 100, **params})
    return {g["key"]["host"]: g for g in page["items"]}


async def test_suppression_lifecycle(api: Api) -> None:
    first = [
        alert(1, host="a", agency="q1"),
        alert(2, host="c", agency="q2"),
        alert(3, host="b", agency="q1", rule="r-web"),
    ]
    await ingest_alerts(api.db, first)
    body = {
        "name": "q1 pentest",
        "justification": "authorised pentest, ticket 42",
        "rule_id": "r-brute",
        "agency": "q1",
        "expires_at": _later(days=7),
    }
    s = await api.ok("POST", "/api/v1/suppressions", json=body, status=201)
    assert s["active"] and s["groups"] == 1 and s["alerts"] == 1 and s["owner"] == "config-admin"
    groups = await _groups(api)
    assert groups["a"]["suppression_id"] == s["id"]
    assert groups["b"]["suppression_id"] is None and groups["c"]["suppression_id"] is None
    assert set(await _groups(api, suppressed=True)) == {"a"}
    assert set(await _groups(api, suppressed=False)) == {"b", "c"}

    # Occurrences are still stored and counted; a new matching group is marked as it is fed.
    await ingest_alerts(api.db, [alert(4, host="a", agency="q1"), alert(5, host="d", agency="q1")])
    groups = await _groups(api)
    assert groups["a"]["count"] == 2 and groups["a"]["suppression_id"] == s["id"]
    assert groups["d"]["suppression_id"] == s["id"]
    got = await api.ok("GET", f"/api/v1/suppressions/{s['id']}")
    assert (got["groups"], got["alerts"]) == (2, 3)

    revoked = await api.ok("POST", f"/api/v1/suppressions/{s['id']}/revoke")
    assert not revoked["active"] and revoked["revoked_by"] == "config-admin" and revoked["groups"] == 0
    assert await _groups(api, suppressed=True) == {}
    assert (await api.call("POST", f"/api/v1/suppressions/{s['id']}/revoke")).status_code == 409
    assert [
        x["id"] for x in (await api.ok("GET", "/api/v1/suppressions", params={"active": False}))["items"]
    ] == [s["id"]]
    log = await api.ok(
        "GET", "/api/v1/audit", params={"object_type": "suppression", "object_id": str(s["id"])}
    )
    assert [e["action"] for e in reversed(log["items"])] == ["suppression.create", "suppression.revoke"]
    assert log["items"][0]["after"]["released_group_ids"] == sorted([groups["a"]["id"], groups["d"]["id"]])


async def test_expiry_releases_groups(api: Api) -> None:
    await ingest_alerts(api.db, [alert(1, host="a", agency="q1")])
    body = {
        "name": "noisy",
        "justification": "known noisy scanner",
        "system": "portal",
        "expires_at": _later(days=1),
    }
    s = await api.ok("POST", "/api/v1/suppressions", json=body, status=201)
    assert set(await _groups(api, suppressed=True)) == {"a"}
    async with api.db.session() as session:
        await session.execute(
            sa.update(Suppression).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    # Expired: no longer holding, at once in the queue and for good at the next occurrence.
    assert await _groups(api, suppressed=True) == {}
    await ingest_alerts(api.db, [alert(2, host="a", agency="q1")])
    assert (await _groups(api))["a"]["suppression_id"] is None
    assert (await api.ok("GET", f"/api/v1/suppressions/{s['id']}"))["active"] is False


@pytest.mark.parametrize(
    "change",
    [
        {"rule_id": None, "agency": None, "system": None},
        {"justification": "short"},
        {"expires_at": "2020-01-01T00:00:00Z"},
        {"expires_at": "2999-01-01T00:00:00Z"},
        {"owner_id": 999999},
    ],
)
async def test_invalid_suppressions_are_refused(api: Api, change: dict[str, Any]) -> None:
    body = {
        "name": "x",
        "justification": "a good reason",
        "rule_id": "r",
        "expires_at": _later(days=1),
    } | change
    r = await api.call("POST", "/api/v1/suppressions", json=body)
    assert r.status_code == 422, r.text
    assert (await api.ok("GET", "/api/v1/suppressions"))["items"] == []


async def test_periodic_report_shows_suppressed_groups(api: Api) -> None:
    await ingest_alerts(
        api.db, [alert(n, host=h, agency=a) for n, h, a in ((1, "a", "q1"), (2, "a", "q1"), (3, "c", "q2"))]
    )
    body = {
        "name": "q1 noise",
        "justification": "agreed with q1",
        "agency": "q1",
        "expires_at": _later(days=3),
    }
    s = await api.ok("POST", "/api/v1/suppressions", json=body, status=201)
    groups = (await api.ok("GET", "/api/v1/alert-groups", params={"limit": 100}))["items"]
    mine = [g for g in groups if g["suppression_id"] == s["id"]]
    report = await api.ok("GET", "/api/v1/reports/periodic", params={"year": 2026, "period": "q4"})
    assert report["suppressed"] == [
        {
            "suppression_id": s["id"],
            "name": "q1 noise",
            "groups": len(mine),
            "alerts": sum(g["count"] for g in mine),
        }
    ]
    assert len(mine) == 1 and mine[0]["count"] == 2
    _, officer = await api.user("o1", "agency_officer", (await api.agency("q1"))["id"])
    assert (await api.call("GET", "/api/v1/suppressions", officer)).status_code == 403
