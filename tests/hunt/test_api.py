"""``POST /api/v1/hunts`` through the real API application (``create_api``) over a chDB store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from citysoc.api.app import create_api
from citysoc.core.config import AuthSettings, Settings, hash_token
from citysoc.hunt.service import hunt_alert_id
from citysoc.store.base import AlertQuery
from citysoc.store.clickhouse import ClickHouseStore

from .conftest import HAVE_CHDB, T0, chdb_store, make_event

pytestmark = pytest.mark.skipif(not HAVE_CHDB, reason="chdb is not installed")

ADMIN = "adm_hunt_test_token"
RULE = """
title: Whoami run
id: 5f0a1c9e-0000-4000-8000-000000000001
status: test
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\whoami.exe'}
  condition: sel
level: medium
"""
SYSMON = "Microsoft-Windows-Sysmon/Operational"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClickHouseStore]:
    s = chdb_store(tmp_path / "chdb")
    s.migrate()
    base = {"EventID": 1, "Channel": SYSMON}
    s.insert_events(
        [
            make_event(
                1, {**base, "Image": "C:\\Windows\\System32\\whoami.exe"}, fmt="evtx_json", agency="a"
            ),
            make_event(2, {**base, "Image": "C:\\Windows\\System32\\cmd.exe"}, fmt="evtx_json", agency="a"),
            make_event(3, {**base, "Image": "C:\\Tools\\WHOAMI.EXE"}, fmt="evtx_json", agency="b"),
        ]
    )
    yield s
    s.close()


@pytest.fixture
async def client(store: ClickHouseStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, auth=AuthSettings(admin_tokens=(hash_token(ADMIN),)))
    app = create_api(settings, store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
        yield c


def body(**kw: object) -> dict[str, object]:
    return {
        "rules": [RULE],
        "since": T0.isoformat(),
        "until": (T0 + timedelta(hours=1)).isoformat(),
        **kw,
    }


async def test_hunt_lists_event_ids_and_saves_hunt_alerts(
    client: httpx.AsyncClient, store: ClickHouseStore
) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    r = await client.post("/api/v1/hunts", json=body(), headers=auth)
    assert r.status_code == 200, r.text
    out = r.json()
    (rule,) = out["rules"]
    ids = [make_event(n, {}).event_id for n in (1, 3)]
    assert rule["event_ids"] == ids and rule["matches"] == 2 and not rule["truncated"]
    assert rule["decided_by_sql"] == 2 and out["saved_alerts"] == 0
    assert store.query_alerts(AlertQuery()) == []

    r = await client.post("/api/v1/hunts", json=body(agency="b", save=True), headers=auth)
    assert r.status_code == 200 and r.json()["saved_alerts"] == 1
    (alert,) = store.query_alerts(AlertQuery())
    assert alert.kind == "hunt" and alert.agency == "b"
    assert alert.alert_id == hunt_alert_id("5f0a1c9e-0000-4000-8000-000000000001", ids[1])
    # As in stream alerts: the fields the rule reads, including the pipeline's Channel/EventID.
    assert alert.matched_fields == {"Image": "C:\\Tools\\WHOAMI.EXE", "EventID": "1", "Channel": SYSMON}
    assert alert.extra["hunt_id"] == r.json()["hunt_id"]
    # Saving the same findings again does not duplicate them.
    await client.post("/api/v1/hunts", json=body(agency="b", save=True), headers=auth)
    assert store.counts().distinct_alerts == 1


async def test_hunt_errors_are_problems(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    assert (await client.post("/api/v1/hunts", json=body())).status_code == 401
    assert (
        await client.post("/api/v1/hunts", json=body(), headers={"Authorization": "Bearer x"})
    ).status_code == 401

    r = await client.post("/api/v1/hunts", json=body(rules=["title: x\ndetection: {}"]), headers=auth)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["title"] == "Rules did not load" and r.json()["errors"][0]["rule"] == 0

    backwards = body(since=(T0 + timedelta(hours=1)).isoformat(), until=T0.isoformat())
    r = await client.post("/api/v1/hunts", json=backwards, headers=auth)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"

    naive = body(since=T0.replace(tzinfo=None).isoformat(), until="2099-01-01T00:00:00")
    assert (await client.post("/api/v1/hunts", json=naive, headers=auth)).status_code == 422
    assert (await client.post("/api/v1/hunts", json=body(rules=[]), headers=auth)).status_code == 422
