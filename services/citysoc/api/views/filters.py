"""The alert queue's filter vocabulary: which query-string keys ``/alerts`` understands and which
values each accepts. A saved view is a query string of these keys, so this module is the one judge
of both an address the console is given and a view someone saves.

``clean`` never raises: it returns the values it accepts (first occurrence of a key wins) and a
problem per key or value it rejects. The console applies what is accepted and ignores the rest; the
API refuses a view with problems (422). Agency scope is not decided here: the console re-scopes every
query of an agency officer to their own agency when it applies it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

from citysoc.core.alert import LEVELS
from citysoc.db.enums import GroupStatus

ViewKind = Literal["grouped", "flat"]
VIEW_KINDS: tuple[ViewKind, ...] = get_args(ViewKind)
RANGES: Mapping[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
"""Time ranges back from now: the groups last seen, or the alerts detected, within it."""
PAGE_SIZES = (25, 50, 100)
DEFAULT_LIMIT = 50
SORTS = ("-last_seen", "last_seen", "-first_seen", "first_seen", "-count", "count", "-level", "level")
"""Sorts of the grouped view (the flat view is always newest detection first)."""
SUPPRESSED = ("include", "only")
"""Groups held by an active suppression: left out unless ``include`` (with the others) or ``only``."""
KEYS = ("view", "agency", "status", "level", "rule", "q", "suppressed", "sort", "limit", "range")
"""Every key a saved view may hold, in the order a canonical query string lists them."""
FLAT_KEYS = frozenset({"view", "agency", "level", "rule", "limit", "range"})
"""The keys the flat view uses; switching views keeps the keys both use."""
TEXT_MAX = 200
DEFAULTS: Mapping[str, str] = {"sort": "-last_seen", "limit": str(DEFAULT_LIMIT)}
"""Values that mean what leaving the key out means: a canonical query string leaves them out."""


@dataclass(frozen=True, slots=True)
class Cleaned:
    values: dict[str, str]
    """Accepted values by key, in ``KEYS`` order; ``view`` is always present, defaults never are."""
    problems: list[str]

    @property
    def view(self) -> ViewKind:
        return "flat" if self.values["view"] == "flat" else "grouped"

    def query(self) -> str:
        """The canonical query string (``view`` first, then the other keys in ``KEYS`` order)."""
        return urllib.parse.urlencode(self.values)


def _valid(key: str, value: str) -> bool:
    match key:
        case "view":
            return value in VIEW_KINDS
        case "status":
            return value in GroupStatus._value2member_map_
        case "level":
            return value in LEVELS
        case "sort":
            return value in SORTS
        case "limit":
            return value in {str(n) for n in PAGE_SIZES}
        case "range":
            return value in RANGES
        case "suppressed":
            return value in SUPPRESSED
        case _:  # agency, rule, q: free text
            return len(value) <= TEXT_MAX and value.isprintable()


def clean(pairs: Iterable[tuple[str, str]], *, ignore: Iterable[str] = ()) -> Cleaned:
    """Accepted values and problems of ``pairs`` (keys outside ``KEYS`` and ``ignore`` are problems;
    empty values mean "no filter" and are dropped silently, as are default values)."""
    skip = set(ignore)
    seen: set[str] = set()
    found: dict[str, str] = {}
    problems: list[str] = []
    for key, raw in pairs:
        if key in skip:
            continue
        if key not in KEYS:
            problems.append(f"unknown key {key[:40]!r}")
            continue
        if key in seen:
            problems.append(f"{key} given more than once")
            continue
        seen.add(key)
        value = raw.strip()
        if not value:
            continue
        if not _valid(key, value):
            problems.append(f"invalid {key} {value[:40]!r}")
        elif DEFAULTS.get(key) != value:
            found[key] = value
    found.setdefault("view", "grouped")
    return Cleaned({k: found[k] for k in KEYS if k in found}, problems)


def parse(query: str) -> Cleaned:
    """``clean`` of a query string (at most 50 fields; a malformed string is one problem)."""
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return Cleaned({"view": "grouped"}, ["more than 50 fields"])
    return clean(pairs)
