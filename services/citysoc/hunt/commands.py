"""``citysoc hunt RULE.yml [RULE.yml ...] --since ... [--until ...] [--agency ...] [--save]``.

Times are ISO 8601 (a time without zone is UTC), ``now``, or a duration back from now (``90m``,
``12h``, ``7d``). Prints, per rule, the matching events (event time, agency, host, id), or with
``--json`` one JSON document. Exit status: 0 when the hunt ran (with or without hits), 1 when no rule
loaded or the store failed, 2 for bad arguments.

The command opens the configured store itself. An embedded ``citysoc run`` owns its chDB directory
while it runs (one process per directory), so hunt through its API (``POST /api/v1/hunts``) then.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from citysoc.core.config import Settings
from citysoc.core.event import utc
from citysoc.hunt.service import DEFAULT_LIMIT, Hunt, HuntError, load_engine, run_hunt, save_findings
from citysoc.store.base import StoreError, StoreUnavailable

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str, now: datetime) -> datetime:
    """ISO 8601 (naive = UTC), ``now``, or ``<n>s|m|h|d`` before ``now``; ``ValueError`` otherwise."""
    text = text.strip()
    if text == "now":
        return now
    if m := _DURATION.match(text):
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601, 'now', or e.g. 7d / 12h / 30m)") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("rules", nargs="+", type=Path, help="Sigma rule files or directories")
    p.add_argument("--since", required=True, help="start of the window (event time, inclusive)")
    p.add_argument("--until", default="now", help="end of the window (exclusive; default now)")
    p.add_argument("--agency", help="only this agency's events")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="candidate events read per rule")
    p.add_argument("--save", action="store_true", help="store the hits as alerts of kind 'hunt'")
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _as_json(hunt: Hunt, saved: int) -> dict[str, Any]:
    return {
        "hunt_id": hunt.hunt_id,
        "since": hunt.since.isoformat(),
        "until": hunt.until.isoformat(),
        "agency": hunt.agency,
        "rules": [
            {
                "rule_id": r.rule.rule_id,
                "title": r.rule.title,
                "level": r.rule.level,
                "event_ids": r.event_ids,
                "matches": len(r.events),
                "decided_by_sql": r.decided_by_sql,
                "checked": r.checked,
                "truncated": r.truncated,
            }
            for r in hunt.rules
        ],
        "errors": [{"path": str(e.path), "rule_id": e.rule_id, "reason": e.reason} for e in hunt.errors],
        "saved_alerts": saved,
    }


def _print(hunt: Hunt, saved: int) -> None:
    for e in hunt.errors:
        print(f"skipped {e.path}{' ' + e.rule_id if e.rule_id else ''}: {e.reason}", file=sys.stderr)
    for r in hunt.rules:
        more = " (limit reached: later events not searched)" if r.truncated else ""
        print(
            f"{r.rule.title} [{r.rule.rule_id}]: {len(r.events)} events"
            f" ({r.decided_by_sql} decided by SQL, {r.checked} checked by the engine){more}"
        )
        for f in r.events:
            print(f"  {f.event_time.isoformat()}  {f.agency:<12} {f.host:<20} {f.event_id}")
    if saved:
        print(f"saved {saved} hunt alerts (hunt {hunt.hunt_id})")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from citysoc.store.clickhouse import ClickHouseStore

    now = datetime.now(UTC)
    try:
        since, until = parse_time(args.since, now), parse_time(args.until, now)
    except ValueError as e:
        print(f"citysoc hunt: {e}", file=sys.stderr)
        return 2
    engine = load_engine(args.rules)
    store = ClickHouseStore(settings.store)
    try:
        hunt = run_hunt(store, engine, since, until, agency=args.agency, limit=args.limit, started_at=now)
        saved = len(save_findings(store, engine, hunt, now)) if args.save else 0
    except HuntError as e:
        print(f"citysoc hunt: {e}", file=sys.stderr)
        return 1 if "no rule" in str(e) else 2
    except StoreUnavailable as e:
        print(
            f"citysoc hunt: the store is unavailable: {e}\n(if `citysoc run` owns this chDB directory, "
            "hunt through its API: POST /api/v1/hunts)",
            file=sys.stderr,
        )
        return 1
    except StoreError as e:
        print(f"citysoc hunt: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        sys.stdout.write(orjson.dumps(_as_json(hunt, saved), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        _print(hunt, saved)
    return 0
