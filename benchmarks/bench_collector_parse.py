"""Collector parse + envelope throughput per format, one core, fixed generated inputs.

Method: N generated ~200-byte messages per format (deterministic; seed fixed), each turned into an
Event by the collector's pure pipeline (``citysoc.collector.pipeline.process``: decode, parse,
attribute, event id) in one thread, in batches of 500 as the collector does; best of ``--repeat``
runs. No I/O is timed.

    .venv/bin/python benchmarks/bench_collector_parse.py [--n 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import orjson

from citysoc.collector.attribution import SourceRegistry
from citysoc.collector.frames import Frame, Kind
from citysoc.collector.pipeline import PipelineContext, process
from citysoc.core.config import Settings
from citysoc.core.event import Event

BATCH = 500
SETTINGS = Settings.model_validate(
    {
        "agencies": [{"code": "bench"}],
        "sources": [{"agency": "bench", "system": "s", "cidrs": ["10.0.0.0/8"]}],
    }
)


def otrf_lines(n: int) -> list[tuple[bytes, Kind]]:
    """The first ``n`` OTRF NXLog events (zips in sorted order), as agents would post them."""
    root = Path(
        os.environ.get("CITYSOC_CORPORA") or Path(__file__).resolve().parents[2] / "shared" / "corpora"
    )
    out: list[tuple[bytes, Kind]] = []
    for z in sorted((root / "otrf" / "windows").rglob("*.zip")):
        with zipfile.ZipFile(z) as zf:
            for name in zf.namelist():
                for line in zf.read(name).splitlines():
                    if line.strip():
                        out.append((line, "json"))
                    if len(out) >= n:
                        return out
    if not out:
        raise SystemExit(f"OTRF corpora not found under {root} (set CITYSOC_CORPORA)")
    return out


def gen(fmt: str, n: int) -> list[tuple[bytes, Kind]]:
    if fmt == "otrf-nxlog":
        return otrf_lines(n)
    rnd = random.Random(42)
    out: list[tuple[bytes, Kind]] = []
    for i in range(n):
        user = f"user{rnd.randrange(10_000)}"
        ip = f"203.0.113.{rnd.randrange(256)}"
        if fmt == "rfc5424":
            line = (
                f"<38>1 2026-11-23T10:00:{i % 60:02d}.123+07:00 web{i % 50:02d}.q1.hcm.gov.vn "
                f'sshd {1000 + i % 9000} - [meta@32473 seq="{i}"] '
                f"Failed password for invalid user {user} from {ip} port {1024 + i % 60000} ssh2"
            )
            out.append((line.encode(), "syslog"))
        elif fmt == "rfc3164":
            line = (
                f"<38>Nov 23 10:00:{i % 60:02d} web{i % 50:02d}.q1.hcm.gov.vn sshd[{1000 + i % 9000}]: "
                f"Failed password for invalid user {user} from {ip} port {1024 + i % 60000} ssh2 (bench {i})"
            )
            out.append((line.encode(), "syslog"))
        else:
            rec = {
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "EventID": 1,
                "Computer": f"ws{i % 500}",
                "EventRecordID": i,
                "Image": "C:\\Windows\\System32\\cmd.exe",
                "CommandLine": f"cmd /c echo {user}",
            }
            out.append((orjson.dumps(rec), "json"))
    return out


def run(fmt: str, n: int, repeat: int) -> tuple[float, float, int]:
    ctx = PipelineContext.create("bench", SourceRegistry(SETTINGS), "Asia/Ho_Chi_Minh")
    now = datetime.now(UTC)
    frames = [Frame(d, k, "tcp", "10.1.2.3", "c", i, now) for i, (d, k) in enumerate(gen(fmt, n))]
    n = len(frames)
    size = sum(len(f.data) for f in frames) // n
    rates: list[float] = []
    for _ in range(repeat):
        ok = 0
        t0 = time.perf_counter()
        # As the collector does: batches of BATCH frames, results handed on and dropped per batch
        # (holding every result at once would measure the garbage collector instead).
        for i in range(0, n, BATCH):
            results = [process(f, ctx) for f in frames[i : i + BATCH]]
            ok += sum(isinstance(r, Event) for r in results)
        dt = time.perf_counter() - t0
        assert ok == len(frames), fmt
        rates.append(n / dt)
    return max(rates), statistics.median(rates), size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, Python {platform.python_version()}, one thread")
    for fmt in ("rfc5424", "rfc3164", "json", "otrf-nxlog"):
        best, median, size = run(fmt, args.n, args.repeat)
        runs = f"avg {size} B, n={args.n}, {args.repeat} runs"
        print(f"{fmt:8} best {best:>8,.0f}  median {median:>8,.0f} msg/s  ({runs})")


if __name__ == "__main__":
    main()
