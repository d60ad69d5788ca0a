"""Per-event field access for matching: one :class:`EventView` per event, built once.

Contract:

* Field names are compared case-insensitively (each key set is casefolded once, then memoised); a
  ``None`` value counts as absent; a list value matches when any element matches (``None`` elements
  are dropped).
* String forms are computed lazily per field and cached, so N rules reading ``CommandLine`` casefold it
  once. Non-string values are matched through their string form (``4688`` -> ``"4688"``, ``True`` ->
  ``"true"``); numbers are also read from strings (``"4688"``, ``"0x10"``).
* Keyword (full-text) search sees every field value plus the raw message (:meth:`EventView.all_values`).

Pure: no I/O; the only module state is a bounded memo of key plans (:func:`key_plan`).
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


class KeyPlan:
    """The field names of one key set (an event's keys, in order), grouped by casefolded name.

    Events of one source and type share their key set, so plans are memoised (:func:`key_plan`) and a
    key is casefolded once per key set instead of once per event.
    """

    __slots__ = ("keys", "names")

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        names: dict[str, tuple[str, ...]] = {}
        for k in keys:
            f = k.casefold()
            names[f] = (*names.get(f, ()), k)
        self.names = names
        """casefolded name -> the event's names for it, in event order ("User", "user")."""


_PLAN_LIMIT = 4096
_plans: dict[tuple[str, ...], KeyPlan] = {}


def key_plan(fields: Mapping[str, Any]) -> KeyPlan:
    """The (memoised) :class:`KeyPlan` of ``fields``' key set.

    The memo is the one piece of module state here: a pure function's cache, bounded (cleared when
    full, so odd inputs cannot grow memory) and safe to share between threads.
    """
    keys = tuple(fields)
    plan = _plans.get(keys)
    if plan is None:
        if len(_plans) >= _PLAN_LIMIT:
            _plans.clear()
        plan = _plans[keys] = KeyPlan(keys)
    return plan


class _ByKey(dict[str, FieldValues | None]):
    """casefolded name -> FieldValues (None: absent), filled on first access of each name."""

    __slots__ = ("_fields", "_plan")

    def __init__(self, fields: Mapping[str, Any]) -> None:
        super().__init__()
        self._fields = fields
        self._plan: KeyPlan | None = None

    def plan(self) -> KeyPlan:
        p = self._plan
        if p is None:
            p = self._plan = key_plan(self._fields)
        return p

    def __missing__(self, key: str) -> FieldValues | None:
        names = self.plan().names.get(key)
        fv: FieldValues | None = None
        if names is not None:
            fields = self._fields
            if len(names) == 1:
                value = fields[names[0]]
                items = () if value is None else _items_of(value)
            else:  # "User" and "user" in one event: keep both values, either may match
                items = ()
                for n in names:
                    if (value := fields[n]) is not None:
                        items += _items_of(value)
            if items:
                fv = FieldValues(items)
        self[key] = fv
        return fv


class EventView:
    """Case-insensitive, cached read access to one event's fields (and raw text, for keywords).

    Nothing is computed up front: a field is looked up, wrapped and cached on its first access
    (``view.by_key[key]``, a dict that fills itself), so an event costs what its candidate rules read.
    """

    __slots__ = ("_all", "_fields", "_raw", "by_key")

    def __init__(self, fields: Mapping[str, Any], raw: bytes | str = b"") -> None:
        self._fields = fields
        self._raw = raw
        self.by_key: dict[str, FieldValues | None] = _ByKey(fields)
        """``by_key[casefolded name]``: the field's values, None when absent (or only nulls)."""
        self._all: FieldValues | None = None

    @property
    def fields(self) -> Mapping[str, Any]:
        """The event's fields as given (original names)."""
        return self._fields

    def plan(self) -> KeyPlan:
        """The event's :class:`KeyPlan` (memoised per key set)."""
        by_key = self.by_key
        assert isinstance(by_key, _ByKey)
        return by_key.plan()

    def raw_text(self) -> str:
        """The raw message as text ("" when none), as keyword search sees it."""
        raw = self._raw
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw

    def values(self, key: str) -> FieldValues | None:
        """Values of the field with casefolded name ``key``; None when absent (or only nulls)."""
        return self.by_key[key]

    def all_values(self) -> FieldValues:
        """Every field value plus the raw message: the haystack of keyword (full-text) search."""
        fv = self._all
        if fv is None:
            items: list[object] = []
            for value in self._fields.values():
                if value is not None:
                    items.extend(_items_of(value))
            if raw := self.raw_text():
                items.append(raw)
            fv = self._all = FieldValues(tuple(items))
        return fv

    def matched_fields(self, keys: Iterable[str], limit: int = 1024) -> dict[str, str]:
        """``{event field name: value as text}`` for the given casefolded keys that are present."""
        out: dict[str, str] = {}
        names_of = self.plan().names
        fields = self._fields
        for key in keys:
            name: str | None = None
            value: object = None
            for n in names_of.get(key, ()):
                v = fields[n]
                if v is None:
                    continue
                if name is None:
                    name, value = n, v
                else:  # same merge as the lookup: every spelling's values, as one list
                    value = _items_of(value) + _items_of(v)
            if name is None:
                continue
            text = to_str(value) if not isinstance(value, (list, tuple)) else to_str(list(value))
            out[name] = text if len(text) <= limit else text[: limit - 1] + "…"
        return out
