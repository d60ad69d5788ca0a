"""Rows per second into chDB through the worker's batching writer (``citysoc.worker.writer``).

Method: N generated syslog events (fixed seed, ~150-byte raw message, 8 parsed fields as a sshd/nginx
collector produces them) plus one alert per ten events, added to one ``BatchWriter`` in polls of
1,000 (as the worker polls), flushed whenever it is due (``--flush-rows`` rows or 0.5 s) and at the
end, into a fresh chDB directory through clickhouse-connect (the embedded default's store). Time
covers adding and flushing only (event generation excluded). Reports rows/s (events + alerts), best
and median of ``--repeat`` runs, each into a new directory.

    .venv/bin/python benchmarks/bench_writer.py [--n 200000] [--flush-rows 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from citysoc.core.alert import Alert, alert_id_for_event
from citysoc.core.config import StoreSettings
from citysoc.core.event import Event, Logsource, stable_id
from citysoc.store.clickhouse import ClickHouseStore
from citysoc.worker.writer import BatchWriter, WriterLimits

POLL = 1000


def events(n: int) -> list[Event]:
    rnd = random.Random(7)
    t0 = datetime(2026, 11, 23, 3, tzinfo=UTC)
    out: list[Event] = []
    for i in range(n):
        t = t0 + timedelta(milliseconds=i)
        host = f"web{rnd.randrange(40):02d}"
        ip = f"203.0.113.{rnd.randrange(256)}"
        user, port = rnd.randrange(10_000), rnd.randrange(65536)
        msg = f"Failed password for invalid user u{user} from {ip} port {port} ssh2"
        raw = f"<38>1 {t.isoformat()} {host} sshd {i} - - {msg}".encode()
        fields = {
            "facility": 4,
            "severity": 6,
            "hostname": host,
            "app_name": "sshd",
            "procid": str(i),
            "message": msg,
            "src_ip": ip,
            "outcome": "failure",
        }
        out.append(
            Event(
                stable_id("bench-writer", i), t, t, "hcm-dost", "web", host, "10.0.0.1", "tcp", "rfc5424",
                raw, fields, Logsource("linux", "sshd"),
            )
        )  # fmt: skip
    return out


def alert(e: Event) -> Alert:
    rule = "506331c0-4397-4d59-82c3-30ecea500097"
    return Alert(
        alert_id_for_event(rule, e.event_id), rule, "SSH Authentication Failures", "medium", "test",
        ("attack.t1110",), e.agency, e.system, e.source_host, (e.event_id,),
        {"message": str(e.fields["message"])}, e.event_time, e.event_time,
    )  # fmt: skip


async def run_once(evs: list[Event], flush_rows: int) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as d:
        store = ClickHouseStore(StoreSettings(dsn=f"chdb://{d}"))
        store.migrate()
        alerts = [alert(e) for e in evs[::10]]
        writer = BatchWriter(store, WriterLimits(max_rows=flush_rows))
        flushes = 0
        t0 = time.perf_counter()
        for start in range(0, len(evs), POLL):
            chunk = evs[start : start + POLL]
            writer.add(events=chunk, alerts=alerts[start // 10 : (start + POLL) // 10])
            if writer.due():
                await writer.flush()
                flushes += 1
        await writer.flush()
        flushes += 1
        elapsed = time.perf_counter() - t0
        stored = store.counts()
        assert stored.distinct_events == len(evs) and stored.distinct_alerts == len(alerts), stored
        store.close()
        return elapsed, len(evs) + len(alerts), flushes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--flush-rows", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    evs = events(args.n)
    rates: list[float] = []
    for r in range(args.repeat):
        elapsed, rows, flushes = asyncio.run(run_once(evs, args.flush_rows))
        rates.append(rows / elapsed)
        rate = rows / elapsed
        print(f"run {r + 1}: {rows:,} rows in {elapsed:.2f} s, {flushes} flushes -> {rate:,.0f} rows/s")
    print(f"best {max(rates):,.0f} rows/s, median {statistics.median(rates):,.0f} rows/s")


if __name__ == "__main__":
    main()
