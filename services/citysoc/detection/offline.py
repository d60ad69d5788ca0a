"""``citysoc detect``: evaluate rules over a JSONL file of events, offline.

Input: one event per line, flattened as in ``shared/corpora/README.md`` (or any JSON shape the
collector accepts: evtx JSON, ECS, NXLog), normalised exactly as the collector would.
Output: one JSON line per (event, rule) hit: ``{"event": <0-based line>, "rule_id", "title", "level"}``.
stderr ends with a summary: rules loaded, rules skipped by reason, events, hits, events/s (matching
only, excluding rule load). A line that is not a JSON object is reported and counted, not fatal.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

from citysoc.core.event import Event, stable_id
from citysoc.detection.engine import Engine
from citysoc.parsing.errors import ParseError
from citysoc.parsing.jsonevents import normalize_json

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def main(rules: list[Path], events: Path, out: Path) -> int:
    t0 = time.perf_counter()
    engine = Engine.load(rules)
    load_s = time.perf_counter() - t0
    for e in engine.errors:
        print(f"skipped {e.path} ({e.rule_id or '?'}): {e.reason}", file=sys.stderr)
    n_events = n_hits = bad = 0
    match_s = 0.0
    with events.open("rb") as src, out.open("wb") as dst:
        for n, line in enumerate(src):
            if not line.strip():
                continue
            try:
                t1 = time.perf_counter()
                event = event_from_line(line, n)
                hits = engine.match(event)
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
    print(f"events/s: {rate:,.0f} (parse + match, excluding rule load)", file=sys.stderr)
    return 1 if bad and not n_events else 0
