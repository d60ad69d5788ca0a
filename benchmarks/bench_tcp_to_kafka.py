"""End-to-end syslog ingest: TCP client → `citysoc collector` → Kafka (real Tansu broker).

Method: start the dev broker (deploy/dev/broker.py, S3 storage on SeaweedFS unless --memory) and one
`citysoc collector` process; one client sends N fixed RFC 5424 lines (about 150 bytes each) over one
TCP connection as fast as the socket takes them; a consumer reads `citysoc.events.raw` from the
start. The figure is
N / (time from the first byte sent until the consumer has read all N records), so it includes
parsing, batching, produce with acks=all and the consumer's read: an end-to-end rate, not a peak.

    .venv/bin/python benchmarks/bench_tcp_to_kafka.py [--n 100000] [--memory]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from aiokafka import AIOKafkaConsumer

REPO = Path(__file__).resolve().parents[1]


def load_broker():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("citysoc_dev_broker", REPO / "deploy/dev/broker.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def count_records(bootstrap: str, topic: str, n: int, timeout_s: float) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = 0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
            seen += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
    if seen < n:
        raise SystemExit(f"only {seen} of {n} records arrived within {timeout_s}s")
    return time.monotonic()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--memory", action="store_true", help="broker keeps topics in memory (no S3)")
    args = ap.parse_args()
    broker = load_broker()
    with tempfile.TemporaryDirectory() as tmp:
        handle = broker.start_broker(Path(tmp) / "kafka", memory=args.memory)
        port, http_port = free_port(), free_port()
        cfg = {
            "bus": {"kind": "kafka", "bootstrap_servers": handle.bootstrap, "partitions": 4},
            "collector": {
                "host": "127.0.0.1",
                "syslog_tcp_port": port,
                "syslog_udp_port": None,
                "http_port": http_port,
            },
            "log_level": "WARNING",
        }
        config = Path(tmp) / "c.yaml"
        config.write_text(yaml.safe_dump(cfg))
        proc = subprocess.Popen(
            [sys.executable, "-m", "citysoc.cli", "--config", str(config), "collector"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            head = "<14>1 2026-11-23T10:00:00.000+07:00 app01.q1.hcm.gov.vn nginx 4242 access"
            lines = b"".join(
                f"{head} - 203.0.113.{i % 256} GET /portal/dich-vu-cong?id={i} HTTP/1.1 200 5123\n".encode()
                for i in range(args.n)
            )
            t0 = time.monotonic()
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(lines)
            sent = time.monotonic()
            done = asyncio.run(count_records(handle.bootstrap, "citysoc.events.raw", args.n, 600))
        finally:
            proc.terminate()
            proc.wait(20)
            broker.stop_broker(handle)
    storage = "memory" if args.memory else "S3 (SeaweedFS)"
    print(f"broker storage: {storage}; n={args.n}; avg {len(lines) // args.n} B/line")
    print(f"client send finished after {sent - t0:.2f}s (socket buffers + collector backpressure)")
    print(
        f"end-to-end: {args.n / (done - t0):,.0f} msg/s ({done - t0:.2f}s until all records were read back)"
    )


if __name__ == "__main__":
    main()
