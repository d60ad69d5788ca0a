"""The embedded default end to end: `citysoc run` as a real process, fed over UDP, TCP and HTTP."""

from __future__ import annotations

import base64
import gzip
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def rule_id(relpath: str) -> str:
    doc = yaml.safe_load((REPO / "detections" / relpath).read_text())
    return str(doc["id"])


SSH_RULE = "linux/sshd_authentication_failures.yml"
PS_RULE = "windows/proc_creation_encoded_powershell.yml"


def ssh_fail(user: str, variant: str) -> bytes:
    msg = f"Failed password for invalid user {user} from 203.0.113.9 port 5022 ssh2"
    if variant == "5424":
        return f"<38>1 2026-11-23T10:00:00.000+07:00 web01 sshd 4242 - - {msg}".encode()
    return f"<38>Nov 23 10:00:00 web01 sshd[4242]: {msg}".encode()


def user_of(alert: dict[str, Any]) -> str:
    """The user name in an SSH-failure alert's matched message."""
    m = re.search(r"invalid user (\S+) from", alert["matched_fields"].get("message", ""))
    return m.group(1) if m else ""


def sysmon_encoded_powershell(record_id: int) -> dict[str, Any]:
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "EventRecordID": record_id,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws-017.q1.hcm.gov.vn",
                "TimeCreated": {"#attributes": {"SystemTime": "2026-11-23T03:00:00.000000Z"}},
            },
            "EventData": {
                "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                "OriginalFileName": "PowerShell.EXE",
                "CommandLine": "powershell.exe -NoProfile -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
                "ParentImage": "C:\\Windows\\explorer.exe",
                "User": "Q1\\officer",
            },
        }
    }


def test_syslog_and_http_to_alerts_within_two_seconds(start_embedded: Any, helpers: dict[str, Any]) -> None:
    emb = start_embedded()
    h = helpers
    ssh = rule_id(SSH_RULE)
    t0 = time.monotonic()
    h["send_udp"](emb.syslog_port, [ssh_fail("u5424udp", "5424"), ssh_fail("u3164udp", "3164")])
    h["send_tcp"](
        emb.syslog_port, ssh_fail("u5424tcp", "5424") + b"\n" + ssh_fail("u3164tcp", "3164") + b"\n"
    )
    # Octet-counted framing on the same TCP port.
    framed = ssh_fail("uoctet", "5424")
    h["send_tcp"](emb.syslog_port, str(len(framed)).encode() + b" " + framed)
    r = httpx.post(
        f"{emb.url}/api/v1/ingest",
        content=orjson.dumps(sysmon_encoded_powershell(1001)),
        headers=h["auth"](h["INGEST"]["q1"]),
    )
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 1
    http_event_id = r.json()["event_ids"][0]

    users = {"u5424udp", "u3164udp", "u5424tcp", "u3164tcp", "uoctet"}

    def complete(items: list[dict[str, Any]]) -> bool:
        seen = {user_of(a) for a in items if a["rule_id"] == ssh}
        return users <= seen and any(a["rule_id"] == rule_id(PS_RULE) for a in items)

    items = h["wait_alerts"](emb.url, complete, timeout=2.0)
    assert time.monotonic() - t0 < 2.5  # the 2 s budget from send to queryable alert (plus polling slack)

    ps = next(a for a in items if a["rule_id"] == rule_id(PS_RULE))
    assert ps["event_ids"] == [http_event_id]
    assert ps["agency"] == "q1" and ps["system"] == "q1-portal" and ps["host"] == "ws-017.q1.hcm.gov.vn"
    assert ps["level"] in ("high", "critical") and any(t.startswith("attack.") for t in ps["tags"])
    assert ps["rule_status"] in ("test", "stable", "experimental") and ps["kind"] == "stream"
    assert "CommandLine" in ps["matched_fields"]
    one_ssh = next(a for a in items if a["rule_id"] == ssh)
    assert one_ssh["agency"] == "hcm-dost" and one_ssh["system"] == "mail"  # attributed by source CIDR
    assert one_ssh["title"] and one_ssh["time"] and one_ssh["detected_at"]

    # Drill down: the alert's event is stored byte-exact.
    ev = httpx.get(f"{emb.url}/api/v1/events/{http_event_id}", headers=h["auth"](h["ADMIN"])).json()
    assert json.loads(ev["raw"]) == sysmon_encoded_powershell(1001)
    assert ev["fields"]["EventID"] == 1 and ev["logsource"]["product"] == "windows"

    # Filters and single fetch.
    only = httpx.get(
        f"{emb.url}/api/v1/alerts", params={"agency": "q1"}, headers=h["auth"](h["ADMIN"])
    ).json()
    assert [a["agency"] for a in only["items"]] == ["q1"]
    one = httpx.get(f"{emb.url}/api/v1/alerts/{ps['alert_id']}", headers=h["auth"](h["ADMIN"]))
    assert one.status_code == 200 and one.json() == ps


def test_auth_is_required_and_scoped(start_embedded: Any, helpers: dict[str, Any]) -> None:
    emb = start_embedded()
    h = helpers
    assert httpx.get(f"{emb.url}/api/v1/alerts").status_code == 401
    assert httpx.get(f"{emb.url}/api/v1/alerts", headers=h["auth"]("wrong")).status_code == 401
    r = httpx.get(f"{emb.url}/api/v1/alerts", headers=h["auth"](h["INGEST"]["q1"]))
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert (
        httpx.post(f"{emb.url}/api/v1/ingest", content=b"{}", headers=h["auth"](h["ADMIN"])).status_code
        == 403
    )
    assert httpx.post(f"{emb.url}/api/v1/ingest", content=b"{}").status_code == 401
    # The payload cannot choose the agency.
    r = httpx.post(
        f"{emb.url}/api/v1/ingest",
        content=b'{"agency": "hcm-dost", "host": "x"}',
        headers=h["auth"](h["INGEST"]["q1"]),
    )
    assert r.status_code == 202
    ev = httpx.get(
        f"{emb.url}/api/v1/events/{r.json()['event_ids'][0]}", headers=h["auth"](h["ADMIN"])
    ).json()
    assert ev["agency"] == "q1"
    assert httpx.get(f"{emb.url}/healthz").json()["status"] == "ok"


def test_malformed_input_is_kept_as_dead_letters_and_never_stops_the_collector(
    start_embedded: Any, helpers: dict[str, Any]
) -> None:
    emb = start_embedded()
    h = helpers
    port = emb.syslog_port
    h["send_udp"](port, [b"this is not syslog", b"<999>1 bad pri"])
    oversize = b"<13>1 2026-11-23T10:00:00Z h a - - - " + b"A" * 20000
    h["send_tcp"](port, b"garbage line\n" + oversize + b"\n" + b"\xff\xfe\x00binary\n")
    body = b'{"ok": 1}\n{not json\n\n[1,2]\n{"ok": 2}\n'
    r = httpx.post(
        f"{emb.url}/api/v1/ingest",
        content=gzip.compress(body),
        headers={**h["auth"](h["INGEST"]["q1"]), "Content-Encoding": "gzip"},
    )
    assert r.status_code == 400, r.text
    problem = r.json()
    assert problem["accepted"] == 2 and [e["line"] for e in problem["errors"]] == [2, 4]
    assert {e["reason"] for e in problem["errors"]} == {"bad_json"}
    big = httpx.post(
        f"{emb.url}/api/v1/ingest", content=b"x" * (11 * 1024 * 1024), headers=h["auth"](h["INGEST"]["q1"])
    )
    assert big.status_code == 413

    # Still collecting after all that.
    h["send_tcp"](port, ssh_fail("after-garbage", "3164") + b"\n")
    h["wait_alerts"](emb.url, lambda items: any(user_of(a) == "after-garbage" for a in items), 5)

    def dead() -> list[dict[str, Any]]:
        r = httpx.get(f"{emb.url}/api/v1/dead-letters", params={"limit": 100}, headers=h["auth"](h["ADMIN"]))
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    deadline = time.monotonic() + 5
    while len(dead()) < 7 and time.monotonic() < deadline:
        time.sleep(0.1)
    items = dead()
    reasons = sorted(d["reason"] for d in items)
    assert reasons == sorted(
        ["bad_syslog", "bad_syslog", "bad_syslog", "oversize", "bad_syslog", "bad_json", "bad_json"]
    )
    raws = {base64.b64decode(d["raw_b64"]) for d in items}
    assert b"this is not syslog" in raws and b"{not json" in raws and b"\xff\xfe\x00binary" in raws
    over = next(d for d in items if d["reason"] == "oversize")
    assert base64.b64decode(over["raw_b64"]) == oversize[:8192]

    metrics = httpx.get(f"{emb.url}/metrics").text
    assert 'citysoc_dead_letters_total{reason="bad_syslog"} 4.0' in metrics
    assert 'citysoc_dead_letters_total{reason="oversize"} 1.0' in metrics
    assert 'citysoc_dead_letters_total{reason="bad_json"} 2.0' in metrics
    # Per agency and source: syslog errors are attributed by source address, HTTP ones by token.
    assert (
        'citysoc_source_parse_errors_total{agency="hcm-dost",reason="bad_syslog",source="127.0.0.1"} 4.0'
        in metrics
    )
    assert (
        'citysoc_source_parse_errors_total{agency="q1",reason="bad_json",source="127.0.0.1"} 2.0' in metrics
    )
    assert {d["agency"] for d in items} == {"hcm-dost", "q1"}


def test_metrics_expose_stage_counters_and_latencies(start_embedded: Any, helpers: dict[str, Any]) -> None:
    emb = start_embedded()
    h = helpers
    h["send_tcp"](emb.syslog_port, ssh_fail("m1", "5424") + b"\n")
    h["wait_alerts"](emb.url, lambda items: len(items) == 1, 5)
    text = httpx.get(f"{emb.url}/metrics").text
    for needle in (
        'citysoc_collector_messages_total{format="rfc5424",outcome="event",transport="tcp"} 1.0',
        'citysoc_stage_seconds_count{stage="parse"}',
        'citysoc_stage_seconds_count{stage="sink"}',
        'citysoc_stage_seconds_count{stage="match"}',
        'citysoc_stage_seconds_count{stage="store_alerts"}',
        'citysoc_stage_seconds_count{stage="commit"}',
        "citysoc_event_latency_seconds_bucket",
        'citysoc_alerts_total{level="medium"} 1.0',
        "citysoc_detection_rules_loaded",
        'citysoc_source_events_total{agency="hcm-dost",source="127.0.0.1",system="mail"} 1.0',
        'citysoc_source_last_seen_timestamp_seconds{agency="hcm-dost",source="127.0.0.1",system="mail"}',
        'citysoc_source_bytes_total{agency="hcm-dost",source="127.0.0.1"}',
    ):
        assert needle in text, needle
    mon = httpx.get(f"{emb.url}/api/v1/monitoring", headers=h["auth"](h["ADMIN"])).json()["items"]
    src = next(m for m in mon if m["source"] == "127.0.0.1" and m["agency"] == "hcm-dost")
    assert src["events"] == 1 and src["system"] == "mail" and src["silent"] is False and src["last_seen"]
    assert any(m["alerts"] == 1 and m["source"] == "" for m in mon)
    names = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    ours = {n for n in names if not n.startswith(("python_", "process_"))}
    assert ours and all(n.startswith("citysoc_") for n in ours), ours


def test_kill9_after_202_loses_no_alert(start_embedded: Any, helpers: dict[str, Any], tmp_path: Path) -> None:
    h = helpers
    emb = start_embedded()
    n = 5000
    lines = [orjson.dumps(sysmon_encoded_powershell(100_000 + i)) for i in range(n)]
    r = httpx.post(
        f"{emb.url}/api/v1/ingest",
        content=b"\n".join(lines),
        headers=h["auth"](h["INGEST"]["q1"]),
        timeout=60,
    )
    assert r.status_code == 202 and r.json()["accepted"] == n
    emb.proc.kill9()  # right after the 202: detection has not caught up with 5,000 events yet

    again = start_embedded(emb.cfg)
    items = h["wait_alerts"](again.url, lambda items: len(items) >= n, 60, rule_id=rule_id(PS_RULE))
    assert len({a["alert_id"] for a in items}) == n
    assert {a["event_ids"][0] for a in items} == set(r.json()["event_ids"])
    log = again.proc.output()
    assert "recovery: re-evaluated" in log, log[-3000:]


def test_rules_reload_mid_stream_without_losing_or_double_counting(
    start_embedded: Any, helpers: dict[str, Any], tmp_path: Path
) -> None:
    import shutil
    import signal
    import socket

    h = helpers
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "detections", rules)
    cfg = h["base_config"](tmp_path / "data", detection={"rules": [str(rules)], "reload_interval_s": 0.2})
    emb = start_embedded(cfg)
    extra_id = "3c0e1d55-5b7a-4f7e-8f43-0d8e2b6f7a11"
    n = 3000
    with socket.create_connection(("127.0.0.1", emb.syslog_port)) as s:
        for i in range(n):
            s.sendall(ssh_fail(f"r{i}", "3164") + b"\n")
            if i == n // 3:  # a rule file appears: picked up by the watcher
                (rules / "linux" / "live.yml").write_text(
                    f"title: Live Rule\nid: {extra_id}\nstatus: test\nlevel: low\n"
                    "logsource: {product: linux, service: sshd}\n"
                    "detection:\n  sel: {message|contains: 'invalid user r'}\n  condition: sel\n"
                )
            if i == 2 * n // 3:
                emb.proc.signal(signal.SIGHUP)  # and a forced reload
            if i % 500 == 0:
                time.sleep(0.3)
    ssh = rule_id(SSH_RULE)
    items = h["wait_alerts"](emb.url, lambda items: len(items) >= n, 60, rule_id=ssh)
    assert len(items) == n and len({a["event_ids"][0] for a in items}) == n  # each event exactly once
    live = h["all_alerts"](emb.url, rule_id=extra_id)
    assert 0 < len(live) < n  # only events evaluated after the reload
    log = emb.proc.output()
    assert log.count("detection reloaded") >= 2, log[-2000:]


def test_correlation_across_a_kill9_counts_every_failure_once(
    start_embedded: Any, helpers: dict[str, Any]
) -> None:
    """Six failures, kill -9, four more from the same address: the ten-in-five-minutes brute-force
    rule fires once, counting the six from before the crash (restored state) and none twice."""
    h = helpers
    brute = rule_id("linux/correlation_sshd_bruteforce.yml")
    emb = start_embedded()
    h["send_tcp"](emb.syslog_port, b"".join(ssh_fail(f"k{i}", "5424") + b"\n" for i in range(6)))
    h["wait_alerts"](emb.url, lambda items: len(items) == 6, 10, rule_id=rule_id(SSH_RULE))
    time.sleep(0.5)  # the batch's state is saved before its commit; let the watermark catch up too
    emb.proc.kill9()

    again = start_embedded(emb.cfg)
    h["send_tcp"](again.syslog_port, b"".join(ssh_fail(f"k{i}", "5424") + b"\n" for i in range(6, 10)))
    items = h["wait_alerts"](again.url, lambda items: len(items) >= 1, 10, rule_id=brute)
    base = h["wait_alerts"](again.url, lambda items: len(items) == 10, 10, rule_id=rule_id(SSH_RULE))
    assert len(items) == 1
    [alert] = items
    assert alert["kind"] == "correlation" and alert["extra"]["count"] == 10
    assert set(alert["event_ids"]) == {a["event_ids"][0] for a in base}
