"""Evidence exports by incident and by query, through the CLI, over a real chDB store and database."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from citysoc.api.access.actor import SYSTEM
from citysoc.api.groups.service import ingest_alerts
from citysoc.api.incidents import service as incidents
from citysoc.api.incidents.models import IncidentIn
from citysoc.cli import main
from citysoc.core.alert import Alert
from citysoc.core.config import ReportingSettings, StoreSettings
from citysoc.core.event import stable_id
from citysoc.db import Database
from citysoc.db.triage import AlertGroup
from citysoc.evidence.archive import read_members
from citysoc.store.clickhouse import ClickHouseStore

from .test_archive import ALERT, EVENTS, T0, event

# Two alerts of one group (same rule, agency, system, host) on two events, one of another agency.
OTHER_EVENT = event(3, b"<38>Nov 23 10:05:00 web01 sshd[3]: Failed password")
SECOND = dataclasses.replace(
    ALERT, alert_id=stable_id("al", 2), event_ids=(EVENTS[1].event_id,), detected_at=T0 + timedelta(minutes=1)
)
ELSEWHERE = dataclasses.replace(
    ALERT, alert_id=stable_id("al", 3), agency="q2", event_ids=(OTHER_EVENT.event_id,), detected_at=T0
)
ALERTS: list[Alert] = [ALERT, SECOND, ELSEWHERE]


async def make_incident(url: str) -> str:
    import sqlalchemy as sa

    db = Database(url)
    try:
        await db.upgrade()
        await ingest_alerts(db, ALERTS)
        async with db.session() as s:
            group = (await s.execute(sa.select(AlertGroup.id).where(AlertGroup.agency == "q1"))).scalar_one()
            inc = await incidents.create(
                s, SYSTEM, IncidentIn(title="brute force", group_ids=[group]), ReportingSettings()
            )
            return inc.code
    finally:
        await db.dispose()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[list[str], str]:
    dsn = f"chdb://{tmp_path}/chdb"
    store = ClickHouseStore(StoreSettings(dsn=dsn))
    store.migrate()
    store.insert_events([*EVENTS, OTHER_EVENT])
    store.insert_alerts(ALERTS)
    store.close()
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    code = asyncio.run(make_incident(url))
    cfg = tmp_path / "c.yaml"
    keys = {"signing_key": str(tmp_path / "k" / "sign.key"), "public_key": str(tmp_path / "k" / "sign.pub")}
    cfg.write_text(yaml.safe_dump({"store": {"dsn": dsn}, "database": {"url": url}, "evidence": keys}))
    base = ["--config", str(cfg), "evidence"]
    assert main([*base, "keygen"]) == 0
    return base, code


def exported(path: Path) -> tuple[set[str], set[str]]:
    names = read_members(path)
    events = {
        n.split("/")[1].removesuffix(".raw") for n in names if n.startswith("events/") and n.endswith(".raw")
    }
    alerts = {n.split("/")[1].removesuffix(".json") for n in names if n.startswith("alerts/")}
    return events, alerts


def test_export_by_incident_takes_every_alert_of_its_groups(
    setup: tuple[list[str], str], tmp_path: Path
) -> None:
    base, code = setup
    out = tmp_path / "inc.tar"
    assert main([*base, "export", "--incident", code, "--out", str(out), "--reason", "court request 12"]) == 0
    assert main([*base, "verify", str(out)]) == 0
    events, alerts = exported(out)
    assert alerts == {ALERT.alert_id, SECOND.alert_id}  # not the other agency's alert
    assert events == {EVENTS[0].event_id, EVENTS[1].event_id}
    assert read_members(out)[f"events/{EVENTS[1].event_id}.raw"] == EVENTS[1].raw
    assert code.encode() in read_members(out)["manifest.json"]  # the reason names the incident
    # An unknown incident exports nothing rather than something else.
    bad = tmp_path / "bad.tar"
    assert main([*base, "export", "--incident", "INC-1999-0001", "--out", str(bad), "--reason", "r"]) == 1
    assert not bad.exists()


def test_export_by_query_filters_by_agency_and_time(setup: tuple[list[str], str], tmp_path: Path) -> None:
    base, _ = setup
    out = tmp_path / "q.tar"
    q = ["--query", "--agency", "q1", "--since", "2026-11-23T10:00:30+07:00"]
    assert main([*base, "export", *q, "--out", str(out), "--reason", "r"]) == 0
    assert exported(out) == ({EVENTS[1].event_id}, {SECOND.alert_id})
    assert (
        main(
            [*base, "export", "--query", "--limit", "1", "--out", str(tmp_path / "big.tar"), "--reason", "r"]
        )
        == 1
    )
    assert (
        main(
            [
                *base,
                "export",
                "--query",
                "--since",
                "yesterday",
                "--out",
                str(tmp_path / "t.tar"),
                "--reason",
                "r",
            ]
        )
        == 1
    )
