"""Per-event field access for matching: one :class:`EventView` per event, built once.

Contract:

* Field names are compared case-insensitively (keys are casefolded once per event); a ``None`` value
  counts as absent; a list value matches when any element matches (``None`` elements are dropped).
* String forms are computed lazily per field and cached, so N rules reading ``CommandLine`` casefold it
  once. Non-string values are matched through their string form (``4688`` -> ``"4688"``, ``True`` ->
  ``"true"``); numbers are also read from strings (``"4688"``, ``"0x10"``).
* Keyword (full-text) search sees every field value plus the raw message (:meth:`EventView.all_values`).

Pure: no I/O, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

Number = int | float


def to_str(value: object) -> str:
    """String form of an event value, as a full-text index would see it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    # Nested objects should not reach the engine (fields are flat), but never crash on them.
    return str(orjson.dumps(value, default=str).decode())


def to_number(value: object) -> Number | None:
    """Numeric reading of an event value (ints, floats, decimal or 0x-hex strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        try:
            return int(s)
        except ValueError:
            pass
        if s[:2] in ("0x", "0X"):
            try:
                return int(s, 16)
            except ValueError:
                return None
        try:
            f = float(s)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


class FieldValues:
    """The non-null values of one present field, with lazily cached string/number forms."""

    __slots__ = ("_folded", "_numbers", "_strs", "items")

    def __init__(self, items: tuple[object, ...]) -> None:
        self.items = items
        self._strs: tuple[str, ...] | None = None
        self._folded: tuple[str, ...] | None = None
        self._numbers: tuple[Number, ...] | None = None

    @property
    def strs(self) -> tuple[str, ...]:
        s = self._strs
        if s is None:
            s = self._strs = tuple(to_str(v) for v in self.items)
        return s

    @property
    def folded(self) -> tuple[str, ...]:
        f = self._folded
        if f is None:
            f = self._folded = tuple(s.casefold() for s in self.strs)
        return f

    @property
    def numbers(self) -> tuple[Number, ...]:
        n = self._numbers
        if n is None:
            n = self._numbers = tuple(x for x in map(to_number, self.items) if x is not None)
        return n


def _items_of(value: object) -> tuple[object, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(v for v in value if v is not None)
    return (value,)


class EventView:
    """Case-insensitive, cached read access to one event's fields (and raw text, for keywords)."""

    __slots__ = ("_all", "_data", "_names", "_raw", "by_key")

    def __init__(self, fields: Mapping[str, Any], raw: bytes | str = b"") -> None:
        data: dict[str, object] = {}
        names: dict[str, str] = {}
        for name, value in fields.items():
            if value is None:
                continue
            key = name.casefold()
            if key in data:  # "User" and "user" in one event: keep both values, either may match
                data[key] = _items_of(data[key]) + _items_of(value)
            else:
                data[key] = value
                names[key] = name
        self._data = data
        self._names = names
        self._raw = raw
        # Built eagerly: one dict lookup per field test on the hot path; string forms stay lazy.
        self.by_key: dict[str, FieldValues] = {
            key: FieldValues(items) for key, value in data.items() if (items := _items_of(value))
        }
        self._all: FieldValues | None = None

    def values(self, key: str) -> FieldValues | None:
        """Values of the field with casefolded name ``key``; None when absent (or only nulls)."""
        return self.by_key.get(key)

    def all_values(self) -> FieldValues:
        """Every field value plus the raw message: the haystack of keyword (full-text) search."""
        fv = self._all
        if fv is None:
            items: list[object] = []
            for value in self._data.values():
                items.extend(_items_of(value))
            raw = self._raw.decode("utf-8", "replace") if isinstance(self._raw, bytes) else self._raw
            if raw:
                items.append(raw)
            fv = self._all = FieldValues(tuple(items))
        return fv

    def matched_fields(self, keys: Iterable[str], limit: int = 1024) -> dict[str, str]:
        """``{event field name: value as text}`` for the given casefolded keys that are present."""
        out: dict[str, str] = {}
        for key in keys:
            value = self._data.get(key)
            if value is None:
                continue
            text = to_str(value) if not isinstance(value, (list, tuple)) else to_str(list(value))
            out[self._names.get(key, key)] = text if len(text) <= limit else text[: limit - 1] + "…"
        return out
