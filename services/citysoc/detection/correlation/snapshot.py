"""The versioned JSON form of a correlation engine's state (``snapshot`` / ``restore``).

Format, version 1 (orjson)::

    {"version": 1, "max_seen": <µs> | null, "seq": <n>,
     "rules": {<rule id>: {"fingerprint": <spec hash>,
                           "groups": [[[[<group-by name>, <value>], ...],
                                       {"closed_until": <µs> | null, "start": <µs> | null, "dropped": <n>,
                                        "entries": [[<t µs>, <seq>, <event id>, [<rule index>, ...],
                                                     <value> | null, <agency>, <system>, <host>], ...]}],
                                      ...]}}}

Groups keep their insertion order, so snapshot -> restore -> snapshot gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from citysoc.detection.correlation.record import GroupPairs
from citysoc.detection.correlation.rules import CorrelationRuleInfo
from citysoc.detection.correlation.window import CorrelationLimits, Entry, Group, RuleState

SNAPSHOT_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class RestoreReport:
    restored: tuple[str, ...]
    """Correlation rule ids whose state was restored."""
    dropped: tuple[str, ...]
    """Rule ids in the snapshot that are gone or changed (their state starts empty)."""


def encode(states: Mapping[str, RuleState], max_seen: int | None, seq: int) -> bytes:
    rules: dict[str, Any] = {}
    for rid, state in states.items():
        rules[rid] = {
            "fingerprint": state.info.fingerprint,
            "groups": [
                [
                    [list(p) for p in key],
                    {
                        "closed_until": g.closed_until,
                        "start": g.start,
                        "dropped": g.dropped,
                        "entries": [list(e) for e in g.entries],
                    },
                ]
                for key, g in state.groups.items()
            ],
        }
    return orjson.dumps({"version": SNAPSHOT_VERSION, "max_seen": max_seen, "seq": seq, "rules": rules})


def decode(
    data: bytes, rules: Sequence[CorrelationRuleInfo], limits: CorrelationLimits
) -> tuple[dict[str, RuleState], int | None, int, RestoreReport, dict[str, int]]:
    """(states, max_seen, seq, report, groups evicted per rule) from :func:`encode`'s output.

    ``ValueError`` when ``data`` is not a version-1 snapshot. Groups over ``limits`` (which may have
    shrunk since the snapshot) are evicted oldest window first and reported.
    """
    try:
        doc = orjson.loads(data)
        if not isinstance(doc, dict) or doc.get("version") != SNAPSHOT_VERSION:
            raise ValueError("not a correlation snapshot of version 1")
        states = {r.rule_id: RuleState(r, limits) for r in rules}
        restored: list[str] = []
        dropped: list[str] = []
        evicted: dict[str, int] = {}
        for rid, saved in dict(doc["rules"]).items():
            state = states.get(rid)
            if state is None or saved["fingerprint"] != state.info.fingerprint:
                dropped.append(rid)
                continue
            for key_list, gd in saved["groups"]:
                key: GroupPairs = tuple((str(n), str(v)) for n, v in key_list)
                g = Group()
                g.entries = [
                    Entry(int(t), int(s), str(ev), tuple(map(int, ix)), _opt_str(v), str(a), str(y), str(h))
                    for t, s, ev, ix, v, a, y, h in gd["entries"]
                ]
                g.ids = {e.event_id for e in g.entries}
                g.closed_until, g.start = _opt_int(gd["closed_until"]), _opt_int(gd["start"])
                g.dropped = int(gd["dropped"])
                if len(state.groups) >= limits.max_groups_per_rule:
                    state.evict_oldest()
                    evicted[rid] = evicted.get(rid, 0) + 1
                state.groups[key] = g
                state.touch(key, g)
            restored.append(rid)
        max_seen, seq = _opt_int(doc["max_seen"]), int(doc["seq"])
    except (KeyError, TypeError, ValueError) as e:  # orjson's decode error is a ValueError
        raise ValueError(f"bad correlation snapshot: {type(e).__name__}: {e}") from e
    return states, max_seen, seq, RestoreReport(tuple(restored), tuple(dropped)), evicted


def _opt_str(v: object) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise ValueError(f"expected a string, got {v!r}")


def _opt_int(v: object) -> int | None:
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError(f"expected an integer, got {v!r}")
    return v
