"""Detection throughput: all three SigmaHQ trees against the OTRF events, one core.

Fixed inputs: the rules under ``sigmahq/rules``, ``sigmahq/rules-emerging-threats`` and
``sigmahq/rules-threat-hunting`` and every event of ``otrf/windows/**/*.zip`` (zips and members in
sorted order), from ``$CITYSOC_CORPORA`` (default ``<repo>/../shared/corpora``).

Method:

* The process pins itself to one CPU (``--cpu``, default the last one) before anything else.
* Rule load (parse, pipelines, compile) is timed on its own and excluded from the matching figure.
  Then ``gc.freeze()`` moves the loaded objects out of the collector's scans, as ``citysoc detect``
  does (``--no-freeze`` to measure without: full collections then rescan pySigma's millions of objects).
* Matching: lines are read from the zips in batches of ``BATCH`` (decompression not timed); each
  batch is timed as the offline command processes a line: ``orjson`` decode, ``normalize_json`` (the
  collector's normalisation of the NXLog shape), ``Event`` construction, ``Engine.match``. So JSON
  parsing is included. Route indexes are built lazily on the first event of each route, inside the
  timed loop (``--warm`` does one untimed pass first and then times a second pass).
* Candidates per event come from a second, untimed pass (``Engine.candidates``) unless
  ``--no-candidates``. ``--parse-only`` also times the decode + normalize part alone (the ceiling).
* Peak memory: ``ru_maxrss`` of the process (peak resident set, includes the interpreter, pySigma,
  the compiled rules and one batch of input), after rule load and at the end.

    .venv/bin/python benchmarks/bench_detection.py [--limit N] [--warm] [--no-candidates]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from citysoc.detection import index
from citysoc.detection.engine import Engine, Hit
from citysoc.detection.offline import event_from_line
from citysoc.parsing.errors import ParseError

BATCH = 2000
TREES = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def corpora_root() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "corpora"
    return Path(os.environ.get("CITYSOC_CORPORA") or default)


def batches(root: Path, limit: int | None) -> Iterator[list[bytes]]:
    """OTRF lines in fixed order, ``BATCH`` at a time (at most ``limit`` in all)."""
    zips = sorted((root / "otrf" / "windows").rglob("*.zip"))
    if not zips:
        raise SystemExit(f"OTRF corpora not found under {root} (set CITYSOC_CORPORA)")
    n = 0
    batch: list[bytes] = []
    for z in zips:
        with zipfile.ZipFile(z) as zf:
            for name in sorted(zf.namelist()):
                with zf.open(name) as f:
                    for line in f:
                        if not line.strip():
                            continue
                        batch.append(line)
                        n += 1
                        if len(batch) >= BATCH:
                            yield batch
                            batch = []
                        if limit is not None and n >= limit:
                            if batch:
                                yield batch
                            return
    if batch:
        yield batch


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class Pass:
    lines: int = 0
    rejected: int = 0
    """Lines the collector would reject too (not JSON, invalid UTF-8): timed, no match."""
    hits: int = 0
    seconds: float = 0.0
    per_rule: Counter[str] = field(default_factory=Counter)


def _one(engine: Engine, line: bytes, n: int) -> list[Hit] | None:
    try:
        event = event_from_line(line, n)
    except (orjson.JSONDecodeError, ParseError):
        return None
    return engine.match(event)


def parse_only_seconds(root: Path, limit: int | None) -> tuple[int, float]:
    """The same decode + normalize + Event construction without matching: the floor under the figure."""
    seconds = 0.0
    events = 0
    clock = time.perf_counter
    for lines in batches(root, limit):
        t0 = clock()
        for i, line in enumerate(lines):
            try:
                event_from_line(line, i)
                events += 1
            except (orjson.JSONDecodeError, ParseError):
                continue
        seconds += clock() - t0
    return events, seconds


def timed_pass(engine: Engine, root: Path, limit: int | None) -> Pass:
    p = Pass()
    clock = time.perf_counter
    for lines in batches(root, limit):
        base = p.lines
        t0 = clock()
        found = [_one(engine, line, base + i) for i, line in enumerate(lines)]
        p.seconds += clock() - t0
        p.lines += len(lines)
        for hs in found:
            if hs is None:
                p.rejected += 1
                continue
            p.hits += len(hs)
            p.per_rule.update(h.rule.title for h in hs)
    return p


def candidate_count(engine: Engine, root: Path, limit: int | None) -> int:
    n = 0
    for lines in batches(root, limit):
        for line in lines:
            try:
                n += len(engine.candidates(event_from_line(line, 0)))
            except (orjson.JSONDecodeError, ParseError):
                continue
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="first N events only (default: all)")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the last one)")
    ap.add_argument("--warm", action="store_true", help="build every route index in an untimed pass first")
    ap.add_argument("--no-candidates", action="store_true", help="skip the untimed candidates pass")
    ap.add_argument("--parse-only", action="store_true", help="also time decode + normalize alone")
    ap.add_argument("--no-freeze", action="store_true", help="leave the loaded rules under the GC's scans")
    args = ap.parse_args()

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    root = corpora_root()
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, pinned to CPU {cpu}")
    print(f"python: {platform.python_implementation()} {platform.python_version()} on {platform.platform()}")
    print(f"literal scanner: {index.BACKEND}")

    t0 = time.perf_counter()
    engine = Engine.load([root / "sigmahq" / t for t in TREES])
    load_s = time.perf_counter() - t0
    print(f"rules: {len(engine.rules)} loaded, {len(engine.errors)} skipped, load {load_s:.1f} s")
    print(f"peak RSS after load: {peak_rss_mib():.0f} MiB")
    if not args.no_freeze:
        gc.freeze()  # as `citysoc detect` does: long-lived rule objects out of the GC's full scans
    print(f"gc.freeze after load: {not args.no_freeze}")

    if args.warm:
        timed_pass(engine, root, args.limit)
    p = timed_pass(engine, root, args.limit)
    events = p.lines - p.rejected
    print(f"lines: {p.lines} ({p.rejected} rejected as the collector would), hits: {p.hits}")
    print(f"  ({len(p.per_rule)} rules fired; the noisiest:)")
    for title, n in p.per_rule.most_common(5):
        print(f"  {n:7d}  {title}")
    print(
        f"matching: {p.seconds:.1f} s, {events / p.seconds:,.0f} events/s "
        f"({p.lines / p.seconds:,.0f} lines/s; decode + normalize + match, rejected lines included)"
    )

    if args.parse_only:
        n, secs = parse_only_seconds(root, args.limit)
        print(f"decode + normalize alone: {secs:.1f} s, {n / secs:,.0f} events/s (no matching)")

    if not args.no_candidates:
        cands = candidate_count(engine, root, args.limit)
        print(f"candidate rules per event: {cands / events:.2f} (over {engine.route_count} routes)")
    print(f"peak RSS (ru_maxrss): {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
