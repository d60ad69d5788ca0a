"""``citysoc hunt`` end to end: a config file naming a chDB store, rule files, JSON and text output."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citysoc.cli import main
from citysoc.core.config import StoreSettings
from citysoc.hunt.commands import parse_time
from citysoc.store.base import AlertQuery
from citysoc.store.clickhouse import ClickHouseStore

from .conftest import HAVE_CHDB, T0, make_event

RULE = """
title: Failed root login
id: 7d1e2f00-0000-4000-8000-000000000002
status: test
logsource: {product: linux, service: sshd}
detection:
  sel: {user: root, outcome: failure}
  condition: sel
level: high
"""


def test_parse_time() -> None:
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_time("now", now) == now
    assert parse_time("90m", now) == now - timedelta(minutes=90)
    assert parse_time("7d", now) == now - timedelta(days=7)
    assert parse_time("2026-04-01T00:00:00", now) == datetime(2026, 4, 1, tzinfo=UTC)
    assert parse_time("2026-04-01T07:00:00+07:00", now) == datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday", now)


@pytest.mark.skipif(not HAVE_CHDB, reason="chdb is not installed")
def test_hunt_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = f"chdb://{tmp_path / 'chdb'}"
    config = tmp_path / "citysoc.yaml"
    config.write_text(f"data_dir: {tmp_path}\nstore:\n  dsn: {dsn}\n", encoding="utf-8")
    rule = tmp_path / "rule.yml"
    rule.write_text(RULE, encoding="utf-8")
    events = [
        make_event(1, {"user": "root", "outcome": "failure"}, product="linux", service="sshd"),
        make_event(2, {"user": "root", "outcome": "success"}, product="linux", service="sshd"),
        make_event(3, {"USER": "ROOT", "Outcome": "Failure"}, product="linux", service="sshd", agency="tax"),
        make_event(4, {"user": "root", "outcome": "failure"}, product="linux", service="cron"),
    ]
    store = ClickHouseStore(StoreSettings(dsn=dsn))
    store.migrate()
    store.insert_events(events)
    store.close()

    since, until = T0.isoformat(), (T0 + timedelta(hours=1)).isoformat()
    assert (
        main(["hunt", str(rule), "--since", since, "--until", until, "--config", str(config), "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["rules"][0]["event_ids"] == [events[0].event_id, events[2].event_id]

    args = ["hunt", str(rule), "--since", since, "--until", until, "--agency", "tax", "--save"]
    assert main([*args, "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert "Failed root login" in text and events[2].event_id in text and "saved 1 hunt alerts" in text
    store = ClickHouseStore(StoreSettings(dsn=dsn))
    try:
        (alert,) = store.query_alerts(AlertQuery())
        assert (alert.kind, alert.event_ids, alert.agency) == ("hunt", (events[2].event_id,), "tax")
    finally:
        store.close()

    assert main(["hunt", str(rule), "--since", "soon", "--config", str(config)]) == 2
    missing = tmp_path / "none.yml"
    assert main(["hunt", str(missing), "--since", since, "--config", str(config)]) == 1
    assert "no rule could be loaded" in capsys.readouterr().err
