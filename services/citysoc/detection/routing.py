"""Routing keys and per-route rule specialisation (used by :class:`citysoc.detection.engine.Engine`).

Contract: an event's route key is (product, service hint, category hint, Channel key, EventID key).
The Channel key is the field's single value casefolded, the EventID key its single integer reading;
``Key.ABSENT`` when the field is absent or null, ``Key.ANY`` when it holds several or odd values (no
filtering on it). :func:`route_node` folds every Channel/EventID test the key decides out of a rule's
condition, exactly (see :func:`_decided`), so a route holds only rules that can match its events and
each evaluates only the rest. Pure: no I/O, no state.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from citysoc.detection.compiler import CHANNEL_FIELD, EVENT_ID_FIELD, CompiledDetection
from citysoc.detection.conditions import ExistsNode, FieldNode, Node, NullNode, specialize
from citysoc.detection.values import NumberSet, StringSet
from citysoc.detection.view import EventView


class Key(Enum):
    ABSENT = 0
    """The event has no such field."""
    ANY = 1
    """The field is present but not a single plain value: no filtering on it."""


type ChannelKey = str | Key
type EventIdKey = int | Key
SLOW: Final = object()
"""A field value that is not one plain value (spelled twice, null, a list)."""
ABSENT: Final = object()
"""Stands for "no such field" in raw route keys."""


def _single(view: EventView, key: str) -> object:
    """The value of field ``key`` when spelled once and not null/list (the common case), else SLOW."""
    names = view.plan().names.get(key)
    if names is None:
        return Key.ABSENT
    if len(names) == 1:
        value = view.fields[names[0]]
        if value is not None and not isinstance(value, (list, tuple)):
            return value
    return SLOW


def channel_key(view: EventView) -> ChannelKey:
    """The route's Channel key: the single value casefolded, ABSENT, or ANY."""
    value = _single(view, CHANNEL_FIELD)
    if type(value) is str:  # the common case, without building FieldValues
        return value.casefold()
    if value is Key.ABSENT:
        return Key.ABSENT
    fv = view.values(CHANNEL_FIELD)
    if fv is None:
        return Key.ABSENT
    folded = fv.folded
    return folded[0] if len(folded) == 1 else Key.ANY


def event_id_key(view: EventView) -> EventIdKey:
    """The route's EventID key: the single value's integer reading, ABSENT, or ANY."""
    value = _single(view, EVENT_ID_FIELD)
    if type(value) is int:  # not bool: True must not route like 1
        return value
    if value is Key.ABSENT:
        return Key.ABSENT
    fv = view.values(EVENT_ID_FIELD)
    if fv is None:
        return Key.ABSENT
    numbers = fv.numbers
    if len(fv.items) == 1 and len(numbers) == 1 and float(numbers[0]).is_integer():
        return int(numbers[0])
    return Key.ANY


def route_node(d: CompiledDetection, channel: ChannelKey, event_id: EventIdKey) -> Node | bool:
    """What remains of a rule's condition on a route: False (cannot match), True (always matches), or
    the node with every Channel/EventID test the route's key decides folded away."""
    if not _may_match(d, channel, event_id):  # the common exclusion, without walking the tree
        return False

    def known(leaf: Node) -> bool | None:
        field = getattr(leaf, "field", None)
        if field == EVENT_ID_FIELD:
            return _decided(leaf, event_id, numbers_only=True)
        if field == CHANNEL_FIELD:
            return _decided(leaf, channel, numbers_only=False)
        return None

    return specialize(d.root, known)


def _decided(leaf: Node, key: ChannelKey | EventIdKey, numbers_only: bool) -> bool | None:
    """A Channel/EventID leaf's value on every event of a route with this key, or None if not fixed.

    ABSENT: the field is absent or null. An int EventID key is the field's single numeric reading
    (decides number tests only: a string "0x10" also reads 16); a str Channel key is the field's single
    casefolded value (decides case-insensitive string tests only).
    """
    if key is Key.ANY:
        return None
    present = key is not Key.ABSENT
    if isinstance(leaf, NullNode):
        return not present
    if isinstance(leaf, ExistsNode):
        return present is leaf.expected
    if not isinstance(leaf, FieldNode):
        return None
    if not present:
        return False
    if numbers_only:
        if all(isinstance(t, NumberSet) for t in leaf.tests):
            return leaf.match(EventView({EVENT_ID_FIELD: key}))
        return None
    if (
        isinstance(key, str)
        and key.isascii()
        and all(isinstance(t, StringSet) and not t.cased for t in leaf.tests)
    ):
        return leaf.match(EventView({CHANNEL_FIELD: key}))  # ASCII: casefolding the key changes nothing
    return None


def _may_match(d: CompiledDetection, channel: ChannelKey, event_id: EventIdKey) -> bool:
    if d.channels is not None and (
        channel is Key.ABSENT or (channel is not Key.ANY and channel not in d.channels)
    ):
        return False
    return d.event_ids is None or not (
        event_id is Key.ABSENT or (event_id is not Key.ANY and event_id not in d.event_ids)
    )
