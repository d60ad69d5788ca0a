"""The scaled mode end to end: collector, worker and API as separate processes over a real
Kafka-protocol broker (Tansu), with ClickHouse over HTTP (`citysoc store serve` owning a chDB dir)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from citysoc.core.config import StoreSettings
from citysoc.store.clickhouse import ClickHouseStore

pytestmark = pytest.mark.integration
BRUTE = "5b0e8a51-3c55-4f0e-9d3f-6a0c2b7e41d9"  # detections/linux/correlation_sshd_bruteforce.yml
SSH = "506331c0-4397-4d59-82c3-30ecea500097"  # detections/linux/sshd_authentication_failures.yml


@dataclass
class Scaled:
    cfg: dict[str, Any]
    api_url: str
    ingest_url: str
    syslog_port: int
    store_dsn: str
    procs: dict[str, Any]
    helpers: dict[str, Any]
    tmp: Path
    store: Any = None
    """The `citysoc store serve` process (the ClickHouse endpoint)."""

    def restart_store(self) -> None:
        old = self.store
        self.store = self.helpers["Proc"]("store", old.args, old.config, self.tmp / "store-2.log").start()
        self.store.wait_http(f"{self.store_dsn}/ping")

    def restart(self, role: str) -> None:
        old = self.procs[role]
        new = self.helpers["Proc"](
            role, [role], old.config, self.tmp / f"{role}-{time.monotonic_ns()}.log"
        ).start()
        self.procs[role] = new


@pytest.fixture
def scaled(kafka_broker: Any, tmp_path: Path, helpers: dict[str, Any]) -> Iterator[Scaled]:
    h = helpers
    store_port = h["free_port"]()
    cfg = h["base_config"](
        tmp_path / "data",
        store={"dsn": f"http://127.0.0.1:{store_port}"},
        bus={
            "kind": "kafka",
            "bootstrap_servers": kafka_broker.bootstrap,
            "topic_prefix": f"t{uuid.uuid4().hex[:8]}.",
            "partitions": 4,
            "session_timeout_ms": 3000,
            "heartbeat_interval_ms": 500,
        },
    )
    config = h["write_config"](tmp_path / "citysoc.yaml", cfg)
    Proc = h["Proc"]
    store = Proc(
        "store",
        ["store", "serve", "--path", str(tmp_path / "chdb"), "--port", str(store_port)],
        config,
        tmp_path / "store.log",
    ).start()
    store.wait_http(f"http://127.0.0.1:{store_port}/ping")
    procs = {
        role: Proc(role, [role], config, tmp_path / f"{role}.log").start()
        for role in ("worker", "collector", "api")
    }
    s = Scaled(
        cfg,
        f"http://127.0.0.1:{cfg['api']['port']}",
        f"http://127.0.0.1:{cfg['collector']['http_port']}",
        cfg["collector"]["syslog_tcp_port"],
        f"http://127.0.0.1:{store_port}",
        procs,
        h,
        tmp_path,
        store,
    )
    procs["api"].wait_http(s.api_url + "/healthz")
    procs["collector"].wait_http(s.ingest_url + "/healthz")
    procs["worker"].wait_http(f"http://127.0.0.1:{cfg['worker']['metrics_port']}/healthz")
    try:
        yield s
    finally:
        for p in s.procs.values():
            p.stop()
        s.store.stop()


def sshd_line(i: int) -> bytes:
    return (
        f"<38>1 2026-11-23T10:00:00.000+07:00 web01 sshd {i} - - "
        f"Failed password for invalid user u{i} from 203.0.113.9 port 5022 ssh2"
    ).encode()


def final_and_distinct(dsn: str, table: str, id_col: str) -> tuple[int, int]:
    """``count()`` with ``FINAL`` and ``count(DISTINCT id)``, straight from ClickHouse."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn, compress=False)
    try:
        final = client.query(f"SELECT count() FROM citysoc.{table} FINAL").result_rows[0][0]
        distinct = client.query(f"SELECT count(DISTINCT {id_col}) FROM citysoc.{table}").result_rows[0][0]
        return int(final), int(distinct)
    finally:
        client.close()


def test_scaled_flow_syslog_and_http_to_alerts(scaled: Scaled) -> None:
    h = scaled.helpers
    h["send_udp"](scaled.syslog_port, [sshd_line(1)])
    h["send_tcp"](scaled.syslog_port, sshd_line(2) + b"\n")
    event = {
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 1,
        "Computer": "ws1",
        "EventRecordID": 7,
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "CommandLine": "powershell -enc SQBFAFgA",
        "OriginalFileName": "PowerShell.EXE",
    }
    r = httpx.post(
        f"{scaled.ingest_url}/api/v1/ingest",
        content=orjson.dumps(event),
        headers=h["auth"](h["INGEST"]["q1"]),
    )
    assert r.status_code == 202, r.text
    items = h["wait_alerts"](scaled.api_url, lambda items: len(items) >= 3, 30)
    messages = " ".join(a["matched_fields"].get("message", "") for a in items)
    assert "user u1 from" in messages and "user u2 from" in messages
    assert any(a["event_ids"] == r.json()["event_ids"] for a in items)
    # Malformed input goes to the dead-letter topic and is stored by the worker.
    h["send_tcp"](scaled.syslog_port, b"not syslog at all\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dead = httpx.get(f"{scaled.api_url}/api/v1/dead-letters", headers=h["auth"](h["ADMIN"])).json()[
            "items"
        ]
        if dead:
            break
        time.sleep(0.2)
    assert [d["reason"] for d in dead] == ["bad_syslog"]
    # Every process exposes its stages on /metrics.
    worker = httpx.get(f"http://127.0.0.1:{scaled.cfg['worker']['metrics_port']}/metrics").text
    collector = httpx.get(f"{scaled.ingest_url}/metrics").text
    for stage in ("consume", "store_events", "match", "store_alerts", "publish", "commit"):
        assert f'citysoc_stage_seconds_count{{stage="{stage}"}}' in worker, stage
    assert 'citysoc_dead_letters_total{reason="bad_syslog"} 1.0' in collector
    assert 'citysoc_stage_seconds_count{stage="sink"}' in collector
    assert "citysoc_event_latency_seconds_count" in worker


def test_worker_kill_and_restart_loses_and_duplicates_nothing(scaled: Scaled) -> None:
    h = scaled.helpers
    n = 3000
    with socket.create_connection(("127.0.0.1", scaled.syslog_port)) as s:
        for i in range(n):
            s.sendall(sshd_line(1000 + i) + b"\n")
            if i == n // 3:
                scaled.procs["worker"].kill9()  # mid-stream, with uncommitted batches in flight
    scaled.restart("worker")
    everything = h["wait_alerts"](scaled.api_url, lambda items: len(items) >= n + 1, 90)
    # One source address, one agency, all within five minutes: the brute-force correlation rule
    # fires exactly once across the kill (its state and offsets survive the restart).
    brute = [a for a in everything if a["rule_id"] == BRUTE]
    items = [a for a in everything if a["rule_id"] != BRUTE]
    assert len(brute) == 1 and brute[0]["kind"] == "correlation"
    assert len(items) == n
    assert final_and_distinct(scaled.store_dsn, "events", "event_id") == (n, n)
    assert final_and_distinct(scaled.store_dsn, "alerts", "alert_id") == (n + 1, n + 1)
    c = ClickHouseStore(StoreSettings(dsn=scaled.store_dsn))
    try:
        assert c.counts().distinct_events == n  # the store's own view agrees
    finally:
        c.close()
    assert len({a["alert_id"] for a in items}) == n
    users = {a["matched_fields"]["message"].split("invalid user ")[1].split(" ")[0] for a in items}
    assert users == {f"u{1000 + i}" for i in range(n)}


def test_tcp_100k_lines_one_connection_and_20_clients_arrive_exactly_once(scaled: Scaled) -> None:
    import concurrent.futures

    def plain(conn: int, i: int) -> bytes:
        # Not an attack: no alerts, just events (about 120 bytes each).
        return f"<14>1 2026-11-23T10:00:00.000+07:00 app{conn:02d} nginx - - - c{conn} n{i} GET /index.html 200".encode()

    def send_lines(conn: int, count: int) -> None:
        with socket.create_connection(("127.0.0.1", scaled.syslog_port)) as s:
            s.sendall(b"".join(plain(conn, i) + b"\n" for i in range(count)))

    one, clients, per_client = 100_000, 20, 2_000
    send_lines(99, one)
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda c: send_lines(c, per_client), range(clients)))
    total = one + clients * per_client
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        final, distinct = final_and_distinct(scaled.store_dsn, "events", "event_id")
        if final >= total:
            break
        time.sleep(1)
    assert (final, distinct) == (total, total)
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=scaled.store_dsn, compress=False)
    try:
        rows = client.query(
            "SELECT source_host, count(), uniqExact(field_map['message']) FROM citysoc.events FINAL GROUP BY source_host"
        ).result_rows
    finally:
        client.close()
    per_host = {h: (c, u) for h, c, u in rows}
    assert per_host["app99"] == (one, one)  # every line of the single connection, each once
    for c in range(clients):
        assert per_host[f"app{c:02d}"] == (per_client, per_client)


def count_where(dsn: str, table: str, id_col: str, where: str) -> tuple[int, int]:
    """(``count()`` FINAL, ``count(DISTINCT id)``) of the rows matching ``where``."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn, compress=False)
    try:
        q = f"SELECT count() FROM citysoc.{table} FINAL WHERE {where}"
        final = client.query(q).result_rows[0][0]
        q = f"SELECT count(DISTINCT {id_col}) FROM citysoc.{table} WHERE {where}"
        distinct = client.query(q).result_rows[0][0]
        return int(final), int(distinct)
    finally:
        client.close()


def mixed_line(i: int) -> bytes:
    """Every tenth line an SSH failure (an alert), the rest web access lines (events only)."""
    if i % 10 == 0:
        return sshd_line(i)
    return f"<14>1 2026-11-23T10:00:00.000+07:00 app{i % 7} nginx - - - n{i} GET /index.html 200".encode()


def wait_counts(dsn: str, n_events: int, n_alerts: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    events = alerts = (0, 0)
    while time.monotonic() < deadline:
        events = final_and_distinct(dsn, "events", "event_id")
        alerts = count_where(dsn, "alerts", "alert_id", f"rule_id != '{BRUTE}'")
        if events[0] >= n_events and alerts[0] >= n_alerts:
            return
        time.sleep(1)
    raise AssertionError(f"not drained in {timeout}s: events {events}, alerts {alerts}")


def test_worker_sigkill_mid_200k_stream_stores_everything_exactly_once(scaled: Scaled) -> None:
    import threading

    n = 200_000
    payload = b"".join(mixed_line(i) + b"\n" for i in range(n))
    sender = threading.Thread(target=scaled.helpers["send_tcp"], args=(scaled.syslog_port, payload))
    sender.start()
    deadline = time.monotonic() + 120
    while final_and_distinct(scaled.store_dsn, "events", "event_id")[0] < n // 4:
        assert time.monotonic() < deadline, "the stream never got going"
        time.sleep(0.2)
    scaled.procs["worker"].kill9()  # mid-stream: batches buffered, stored but not committed, in flight
    stored_at_kill = final_and_distinct(scaled.store_dsn, "events", "event_id")[0]
    scaled.restart("worker")
    sender.join(120)
    wait_counts(scaled.store_dsn, n, n // 10, 300)
    assert stored_at_kill < n, "the kill was not mid-stream"
    assert final_and_distinct(scaled.store_dsn, "events", "event_id") == (n, n)
    assert count_where(scaled.store_dsn, "alerts", "alert_id", f"rule_id != '{BRUTE}'") == (n // 10, n // 10)
    assert count_where(scaled.store_dsn, "alerts", "alert_id", f"rule_id = '{BRUTE}'") == (1, 1)


def test_store_outage_of_30s_pauses_the_worker_and_loses_nothing(scaled: Scaled) -> None:
    h = scaled.helpers
    n = 20_000
    h["send_tcp"](scaled.syslog_port, b"".join(mixed_line(i) + b"\n" for i in range(n // 2)))
    wait_counts(scaled.store_dsn, 1, 1, 60)
    scaled.store.stop()  # the ClickHouse endpoint goes away mid-stream
    h["send_tcp"](scaled.syslog_port, b"".join(mixed_line(i) + b"\n" for i in range(n // 2, n)))
    time.sleep(30)
    worker = scaled.procs["worker"]
    assert worker.alive(), "the worker must pause, not crash:\n" + worker.output()[-3000:]
    assert "retrying" in worker.output()
    metrics = httpx.get(f"http://127.0.0.1:{scaled.cfg['worker']['metrics_port']}/metrics").text
    assert "citysoc_store_retries_total" in metrics
    scaled.restart_store()
    wait_counts(scaled.store_dsn, n, n // 10, 180)
    assert final_and_distinct(scaled.store_dsn, "events", "event_id") == (n, n)
    assert count_where(scaled.store_dsn, "alerts", "alert_id", f"rule_id != '{BRUTE}'") == (n // 10, n // 10)
    assert worker.alive()


def test_two_worker_processes_correlate_a_group_split_across_them(scaled: Scaled) -> None:
    """Ten failures from one address, one per host, hosts chosen so every raw partition holds two or
    three of them: whichever two partitions each worker owns, neither sees ten. Only the repartition
    by (rule, group) onto the correlation topic brings them onto one engine."""
    from aiokafka.partitioner import DefaultPartitioner

    h = scaled.helpers
    cfg2 = {**scaled.cfg, "worker": {**scaled.cfg["worker"], "metrics_port": h["free_port"]()}}
    config2 = h["write_config"](scaled.tmp / "citysoc-worker2.yaml", cfg2)
    worker2 = h["Proc"]("worker2", ["worker"], config2, scaled.tmp / "worker2.log").start()
    scaled.procs["worker2"] = worker2
    worker2.wait_http(f"http://127.0.0.1:{cfg2['worker']['metrics_port']}/healthz")
    assigned = "for group citysoc-worker\n"  # aiokafka logs each (re)assignment of the raw group
    deadline = time.monotonic() + 30
    while assigned not in worker2.output() or scaled.procs["worker"].output().count(assigned) < 2:
        assert time.monotonic() < deadline, "the group did not rebalance onto two workers"
        time.sleep(0.2)

    part = DefaultPartitioner()
    by_partition: dict[int, list[str]] = {0: [], 1: [], 2: [], 3: []}
    for i in range(200):
        host = f"web{i:03d}"
        p = part(f"hcm-dost\x1f{host}".encode(), [0, 1, 2, 3], [0, 1, 2, 3])
        if len(by_partition[p]) < (3 if p < 2 else 2):
            by_partition[p].append(host)
    hosts = [host for group in by_partition.values() for host in group]
    assert len(hosts) == 10
    lines = [
        (
            f"<38>1 2026-11-23T10:00:0{i}.000+07:00 {host} sshd {i} - - "
            f"Failed password for invalid user x{i} from 198.51.100.77 port 5022 ssh2"
        ).encode()
        for i, host in enumerate(hosts)
    ]
    h["send_tcp"](scaled.syslog_port, b"".join(line + b"\n" for line in lines))
    brute = h["wait_alerts"](scaled.api_url, lambda items: len(items) >= 1, 60, rule_id=BRUTE)
    base = h["wait_alerts"](scaled.api_url, lambda items: len(items) >= 10, 30, rule_id=SSH)
    assert len(brute) == 1 and brute[0]["extra"]["count"] == 10
    assert set(brute[0]["event_ids"]) == {a["event_ids"][0] for a in base}
    assert brute[0]["matched_fields"] == {"agency": "hcm-dost", "src_ip": "198.51.100.77"}
