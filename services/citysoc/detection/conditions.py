"""Boolean matcher nodes: the compiled form of a Sigma condition tree.

Contract:

* Every node has ``match(view) -> bool`` (pure, no I/O) and ``fields()`` (the casefolded event field
  names it reads, for ``Hit.matched_fields`` and index extraction).
* Absent-field semantics follow the pySigma reference: a field item on an absent field is False (so
  ``not`` over it is True); ``field: null`` (:class:`NullNode`) is True only when the field is absent
  or null, never for ``""``.
* :func:`make_and` / :func:`make_or` flatten nested operators, and ``make_or`` merges value tests on the
  same field into one :class:`FieldNode` (one field lookup, ``str.endswith(tuple)`` etc.), which is
  what keeps large value lists cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from citysoc.detection.values import ValueTest
from citysoc.detection.view import EventView, FieldValues


class Node:
    """A compiled condition node."""

    __slots__ = ()

    def match(self, view: EventView) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def fields(self) -> Iterator[str]:
        return iter(())


class AndNode(Node):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def match(self, view: EventView) -> bool:
        # Plain loops (here and below): cheaper than all()/any() over a generator on the hot path.
        for c in self.children:  # noqa: SIM110
            if not c.match(view):
                return False
        return True

    def fields(self) -> Iterator[str]:
        for c in self.children:
            yield from c.fields()

    def __repr__(self) -> str:
        return f"And{list(self.children)!r}"


class OrNode(Node):
    __slots__ = ("children",)

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def match(self, view: EventView) -> bool:
        for c in self.children:  # noqa: SIM110
            if c.match(view):
                return True
        return False

    def fields(self) -> Iterator[str]:
        for c in self.children:
            yield from c.fields()

    def __repr__(self) -> str:
        return f"Or{list(self.children)!r}"


class NotNode(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child

    def match(self, view: EventView) -> bool:
        return not self.child.match(view)

    def fields(self) -> Iterator[str]:
        return self.child.fields()

    def __repr__(self) -> str:
        return f"Not({self.child!r})"


def merge_tests(tests: Sequence[ValueTest]) -> tuple[ValueTest, ...]:
    """OR-combine tests of the same kind (string sets with the same casing, number sets)."""
    out: list[ValueTest] = []
    for t in tests:
        for i, existing in enumerate(out):
            merged = existing.merge(t)
            if merged is not None:
                out[i] = merged
                break
        else:
            out.append(t)
    return tuple(out)


class FieldNode(Node):
    """``field`` is present and any of its values passes any of ``tests``."""

    __slots__ = ("field", "tests")

    def __init__(self, field: str, tests: tuple[ValueTest, ...]) -> None:
        self.field = field
        self.tests = tests

    def match(self, view: EventView) -> bool:
        fv = view.by_key[self.field]  # not view.values(): saves a call on the hottest path
        if fv is None:
            return False
        for t in self.tests:  # noqa: SIM110
            if t.test(fv):
                return True
        return False

    def fields(self) -> Iterator[str]:
        yield self.field

    def __repr__(self) -> str:
        return f"Field({self.field!r}, {list(self.tests)!r})"


class KeywordNode(Node):
    """Field-less value: any field value or the raw message passes any of ``tests`` (full-text search)."""

    __slots__ = ("tests",)

    def __init__(self, tests: tuple[ValueTest, ...]) -> None:
        self.tests = tests

    def match(self, view: EventView) -> bool:
        fv: FieldValues = view.all_values()
        return any(t.test(fv) for t in self.tests)

    def __repr__(self) -> str:
        return f"Keyword({list(self.tests)!r})"


class NullNode(Node):
    """``field: null``: the field is absent (or JSON null). The empty string is a value."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def match(self, view: EventView) -> bool:
        return view.values(self.field) is None

    def fields(self) -> Iterator[str]:
        yield self.field

    def __repr__(self) -> str:
        return f"Null({self.field!r})"


class ExistsNode(Node):
    """``field|exists: true/false``."""

    __slots__ = ("expected", "field")

    def __init__(self, field: str, expected: bool) -> None:
        self.field = field
        self.expected = expected

    def match(self, view: EventView) -> bool:
        return (view.values(self.field) is not None) is self.expected

    def fields(self) -> Iterator[str]:
        yield self.field

    def __repr__(self) -> str:
        return f"Exists({self.field!r}, {self.expected})"


class FieldRefNode(Node):
    """``field|fieldref: other``: compares two fields of the same event, case-insensitively.

    With ``|startswith``/``|endswith``/``|contains`` (pySigma sets the flags) the value of ``field`` must
    start/end with or contain the value of ``other``. Absent either field: False.
    """

    __slots__ = ("ends_with", "field", "other", "starts_with")

    def __init__(self, field: str, other: str, starts_with: bool, ends_with: bool) -> None:
        self.field = field
        self.other = other
        self.starts_with = starts_with
        self.ends_with = ends_with

    def match(self, view: EventView) -> bool:
        fv = view.values(self.field)
        ref = view.values(self.other)
        if fv is None or ref is None:
            return False
        for needle in ref.folded:
            for s in fv.folded:
                if self.starts_with and self.ends_with:
                    ok = needle in s
                elif self.starts_with:
                    ok = s.startswith(needle)
                elif self.ends_with:
                    ok = s.endswith(needle)
                else:
                    ok = s == needle
                if ok:
                    return True
        return False

    def fields(self) -> Iterator[str]:
        yield self.field
        yield self.other

    def __repr__(self) -> str:
        return f"FieldRef({self.field!r}, {self.other!r}, sw={self.starts_with}, ew={self.ends_with})"


def make_and(children: Sequence[Node]) -> Node:
    """AND of ``children``, nested ANDs flattened; a single child is returned as is."""
    flat: list[Node] = []
    for c in children:
        flat.extend(c.children if isinstance(c, AndNode) else (c,))
    if not flat:
        raise ValueError("empty AND")
    return flat[0] if len(flat) == 1 else AndNode(tuple(flat))


def make_or(children: Sequence[Node]) -> Node:
    """OR of ``children``: nested ORs flattened, field tests on one field merged into one node."""
    flat: list[Node] = []
    for c in children:
        flat.extend(c.children if isinstance(c, OrNode) else (c,))
    if not flat:
        raise ValueError("empty OR")
    out: list[Node] = []
    by_field: dict[str, int] = {}
    keyword_at: int | None = None
    for c in flat:
        if isinstance(c, FieldNode):
            at = by_field.get(c.field)
            if at is None:
                by_field[c.field] = len(out)
                out.append(c)
            else:
                prev = out[at]
                assert isinstance(prev, FieldNode)
                out[at] = FieldNode(c.field, merge_tests(prev.tests + c.tests))
        elif isinstance(c, KeywordNode):
            if keyword_at is None:
                keyword_at = len(out)
                out.append(c)
            else:
                prev_kw = out[keyword_at]
                assert isinstance(prev_kw, KeywordNode)
                out[keyword_at] = KeywordNode(merge_tests(prev_kw.tests + c.tests))
        else:
            out.append(c)
    return out[0] if len(out) == 1 else OrNode(tuple(out))


def specialize(node: Node, known: Callable[[Node], bool | None]) -> Node | bool:
    """``node`` simplified for the events on which ``known(leaf)`` gives each known leaf's value.

    ``known`` answers True/False for a leaf whose outcome is fixed (e.g. an EventID test on a route of
    one EventID) and None otherwise; AND/OR/NOT are folded around the answers. Returns True/False when
    the whole node is decided, else the remaining node (the same object when nothing was known), which
    matches exactly the events the original matches among those ``known`` describes.
    """
    if isinstance(node, (AndNode, OrNode)):
        is_and = isinstance(node, AndNode)
        kept: list[Node] = []
        changed = False
        for c in node.children:
            s = specialize(c, known)
            if s is (not is_and):  # False in an AND, True in an OR decides it
                return s
            if isinstance(s, bool):
                changed = True
                continue
            changed = changed or s is not c
            kept.append(s)
        if not changed:
            return node
        if not kept:
            return is_and
        return make_and(kept) if is_and else make_or(kept)
    if isinstance(node, NotNode):
        s = specialize(node.child, known)
        if isinstance(s, bool):
            return not s
        return node if s is node.child else NotNode(s)
    answer = known(node)
    return node if answer is None else answer
