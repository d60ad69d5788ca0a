"""``citysoc detect``: evaluate rules over a JSONL file of events, offline.

Input: one event per line, flattened as in ``shared/corpora/README.md`` (or any JSON shape the
collector accepts: evtx JSON, ECS, NXLog), normalised exactly as the collector would.
Output: one JSON line per (event, rule) hit: ``{"event": <0-based line>, "rule_id", "title", "level"}``.
stderr ends with a summary: rules loaded, rules skipped by reason, events, hits, events/s (matching
only, excluding rule load). A line that is not a JSON object is reported and counted, not fatal.

``--profile [FILE]`` matches through ``Engine.match_profiled`` (same hits, but the clock is read around
every candidate rule, so events/s is lower) and reports per-rule cost and hit counts, most expensive
first, plus a summary (events, candidates per event, prefilter and rule time, routes built and their
build time): as JSON lines to FILE
(``{"kind": "rule", ...}`` per rule, then one ``{"kind": "summary", ...}``), or as a table on stderr
when no FILE is given.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import orjson

from citysoc.core.event import Event, stable_id
from citysoc.detection.engine import Engine
from citysoc.detection.profiling import Profiler
from citysoc.parsing.errors import ParseError
from citysoc.parsing.jsonevents import normalize_json

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PROFILE_TO_STDERR: Final = Path("-")
"""``--profile`` without a FILE: the table goes to stderr."""
PROFILE_TABLE_ROWS: Final = 30


def event_from_line(line: bytes, n: int) -> Event:
    """The Event the collector would make of this JSON record (envelope values are placeholders)."""
    norm = normalize_json(orjson.loads(line))
    return Event(
        event_id=stable_id("offline", n),
        received_at=_EPOCH,
        event_time=norm.event_time or _EPOCH,
        agency="offline",
        system="offline",
        source_host=norm.host,
        source_ip="",
        transport="replay",
        format=norm.format,
        raw=line,
        fields=norm.fields,
        logsource=norm.logsource,
    )


def skip_reasons(engine: Engine) -> Counter[str]:
    # Group by the reason's first clause so the summary stays short (details are in the per-rule lines).
    return Counter(e.reason.split(":")[0][:80] for e in engine.errors)


def write_profile(profiler: Profiler, target: Path) -> None:
    """The profile as JSON lines to ``target``, or a table on stderr for :data:`PROFILE_TO_STDERR`."""
    rows = profiler.rows()
    summary = profiler.summary()
    if target != PROFILE_TO_STDERR:
        with target.open("wb") as f:
            for r in rows:
                f.write(orjson.dumps({"kind": "rule", **r.as_dict()}) + b"\n")
            f.write(orjson.dumps({"kind": "summary", **summary}) + b"\n")
        return
    _profile_table(profiler, sys.stderr)


def _profile_table(profiler: Profiler, out: IO[str]) -> None:
    rows = profiler.rows()
    s = profiler.summary()
    print(
        f"profile: {s['events']} events, {s['candidates_per_event']:.2f} candidate rules per event, "
        f"prefilter {s['prefilter_seconds']:.3f}s, rules {s['rule_seconds']:.3f}s, hits {s['hits']}; "
        f"{s['routes_built']} routes built in {s['route_build_seconds']:.3f}s",
        file=out,
    )
    print(f"{'seconds':>10} {'evals':>8} {'hits':>7} {'us/eval':>8}  rule", file=out)
    for r in rows[:PROFILE_TABLE_ROWS]:
        per = r.seconds / r.evaluations * 1e6 if r.evaluations else 0.0
        print(f"{r.seconds:10.4f} {r.evaluations:8d} {r.hits:7d} {per:8.1f}  {r.rule_id} {r.title}", file=out)
    if len(rows) > PROFILE_TABLE_ROWS:
        print(f"... {len(rows) - PROFILE_TABLE_ROWS} more rules (give --profile a FILE for all)", file=out)


def main(rules: list[Path], events: Path, out: Path, profile: Path | None = None) -> int:
    """Run the offline command; ``profile``: None (off), a file, or :data:`PROFILE_TO_STDERR`."""
    t0 = time.perf_counter()
    engine = Engine.load(rules)
    load_s = time.perf_counter() - t0
    # The loaded rules (and pySigma's objects) live as long as the process: move them out of the
    # garbage collector's view, so full collections during matching do not rescan millions of them.
    gc.freeze()
    for e in engine.errors:
        print(f"skipped {e.path} ({e.rule_id or '?'}): {e.reason}", file=sys.stderr)
    n_events = n_hits = bad = 0
    match_s = 0.0
    profiler = Profiler() if profile is not None else None
    with events.open("rb") as src, out.open("wb") as dst:
        for n, line in enumerate(src):
            if not line.strip():
                continue
            try:
                t1 = time.perf_counter()
                event = event_from_line(line, n)
                hits = engine.match(event) if profiler is None else engine.match_profiled(event, profiler)
                match_s += time.perf_counter() - t1
            except (orjson.JSONDecodeError, ParseError) as exc:
                bad += 1
                print(f"line {n}: not an event: {exc}", file=sys.stderr)
                continue
            n_events += 1
            for h in hits:
                n_hits += 1
                dst.write(
                    orjson.dumps(
                        {"event": n, "rule_id": h.rule.rule_id, "title": h.rule.title, "level": h.rule.level}
                    )
                    + b"\n"
                )
    rate = n_events / match_s if match_s > 0 else 0.0
    print(f"rules loaded: {len(engine.rules)} in {load_s:.1f}s", file=sys.stderr)
    print(f"rules skipped: {len(engine.errors)}", file=sys.stderr)
    for reason, count in skip_reasons(engine).most_common():
        print(f"  {count:5d}  {reason}", file=sys.stderr)
    print(f"events: {n_events} ({bad} unreadable lines)", file=sys.stderr)
    print(f"hits: {n_hits}", file=sys.stderr)
    if profiler is not None and profile is not None:
        write_profile(profiler, profile)
    note = ", profiled" if profiler is not None else ""
    print(f"events/s: {rate:,.0f} (parse + match, excluding rule load{note})", file=sys.stderr)
    return 1 if bad and not n_events else 0
