"""Literal prefilter: which rules of a route could match an event, decided by one automaton scan.

Contract (house rule: the prefilter may let extra rules through, it never drops a real match):

* :func:`requirement` derives a *necessary condition* from a compiled condition tree: a set of atoms
  ``(field, literal)`` such that whenever the node matches an event, at least one atom holds, i.e. the
  casefolded string form of some value of ``field`` (of any field or the raw message when ``field`` is
  None: keywords) contains ``literal``. None means "no usable condition": the rule is always a
  candidate. Derivation: an AND needs any one child's requirement (the cheapest is taken); an OR needs
  every child's (their union); NOT, ``null``, ``exists``, ``fieldref``, numbers, booleans, regular
  expressions, CIDR and comparisons give none; string tests give their literals
  (:meth:`StringSet.needles <citysoc.detection.values.StringSet.needles>`: equals, startswith,
  endswith, contains, wildcard patterns and ``|cased`` all imply "contains, after casefolding").
  Literals shorter than :data:`MIN_LITERAL` or containing :data:`SEP` give none either.
* :class:`RouteIndex` holds the requirements of one route's rules in one Aho-Corasick automaton (all
  literals, casefolded). :meth:`RouteIndex.candidates` joins the values of the fields the route's
  atoms name (every value plus the raw text when a keyword atom exists) with :data:`SEP`, lowercases
  the text once, scans it once, and keeps an atom when its literal ends inside a value of its field.
  It returns the positions of the rules with a satisfied atom plus the always-candidates, sorted.
  The scan sees the same strings as matching does (:func:`~citysoc.detection.view.to_str`, list
  elements one by one, nulls dropped), so a real match is never dropped.

Pure: no I/O. The only state is a bounded per-route memo of scan plans (one per event key set).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import itemgetter
from typing import Any, Final

import ahocorasick

from citysoc.detection.conditions import AndNode, FieldNode, KeywordNode, Node, OrNode
from citysoc.detection.values import StringSet, ValueTest
from citysoc.detection.view import EventView, KeyPlan, to_str

MIN_LITERAL: Final = 3
"""Shorter literals match nearly every value: the scan would report them all the time."""
SEP: Final = "\x00"
"""Joins the scanned values. A literal containing it gives no requirement, so no literal can match
across two values and every reported match lies inside one value."""
_SCAN_PLAN_LIMIT = 1024

type Atom = tuple[str | None, str]
"""(casefolded field name, or None for "any value": keywords; casefolded literal)."""

# Strings nearly every Windows event carries: a literal inside one of them says little, so the
# requirement chooser avoids it when the rule offers anything better. A heuristic for speed only;
# correctness never depends on it.
_COMMON = "\n".join(
    (
        "c:\\windows\\system32\\svchost.exe",
        "c:\\windows\\syswow64\\windowspowershell\\v1.0\\powershell.exe",
        "c:\\windows\\system32\\windowspowershell\\v1.0\\powershell.exe",
        "c:\\program files (x86)\\microsoft\\",
        "c:\\program files\\windows defender\\",
        "c:\\users\\public\\appdata\\local\\temp\\",
        "c:\\users\\admin\\appdata\\roaming\\microsoft\\windows\\",
        "c:\\windows\\microsoft.net\\framework64\\",
        "\\registry\\machine\\software\\microsoft\\windows\\currentversion\\",
        "hklm\\system\\currentcontrolset\\services\\",
        "hku\\s-1-5-21-\\software\\microsoft\\windows nt\\currentversion\\",
        "nt authority\\system",
        ".exe .dll .sys .tmp .log .dat",
        "microsoft corporation",
        "microsoft-windows-security-auditing",
        "microsoft-windows-sysmon/operational",
    )
)


@dataclass(frozen=True, slots=True)
class Requirement:
    """At least one atom holds whenever the node it was derived from matches."""

    atoms: frozenset[Atom]
    cost: float
    """Estimated chance that some atom holds on an unrelated event (lower is more selective)."""


def _atom_cost(field: str | None, literal: str) -> float:
    if literal in _COMMON:
        return 1.0
    cost = 0.5 ** min(len(literal), 24)
    return cost * 4 if field is None else cost  # any value is a larger haystack than one field


def _make(atoms: frozenset[Atom]) -> Requirement:
    return Requirement(atoms, min(1.0, sum(_atom_cost(f, lit) for f, lit in atoms)))


def _tests_requirement(field: str | None, tests: Sequence[ValueTest]) -> Requirement | None:
    atoms: set[Atom] = set()
    for t in tests:
        needles = t.needles() if isinstance(t, StringSet) else None
        if needles is None:
            return None
        for n in needles:
            if len(n) < MIN_LITERAL or SEP in n:
                return None
            atoms.add((field, n))
    return _make(frozenset(atoms)) if atoms else None


def requirement(node: Node) -> Requirement | None:
    """Necessary condition of ``node`` (see the module contract); None when none can be derived."""
    if isinstance(node, AndNode):
        best: Requirement | None = None
        for c in node.children:
            r = requirement(c)
            if r is not None and (best is None or r.cost < best.cost):
                best = r
        return best
    if isinstance(node, OrNode):
        atoms: set[Atom] = set()
        for c in node.children:
            r = requirement(c)
            if r is None:
                return None
            atoms |= r.atoms
        return _make(frozenset(atoms))
    if isinstance(node, FieldNode):
        return _tests_requirement(node.field, node.tests)
    if isinstance(node, KeywordNode):
        return _tests_requirement(None, node.tests)
    return None  # NOT, null, exists, fieldref: no literal is implied


type _Payload = tuple[tuple[str | None, tuple[int, ...]], ...]
"""Per literal: (field or None, positions of the rules whose requirement has that atom)."""


class _ScanPlan:
    """Which of an event's fields to scan, for one key set: names to fetch and their casefolded keys."""

    __slots__ = ("get", "keys")

    def __init__(self, plan: KeyPlan, fields: frozenset[str], everything: bool) -> None:
        names: list[str] = []
        keys: list[str] = []
        for key, spelled in plan.names.items():
            if everything or key in fields:
                names.extend(spelled)
                keys.extend([key] * len(spelled))
        self.keys: tuple[str | None, ...] = tuple(keys)
        self.get: Callable[[Mapping[str, Any]], tuple[Any, ...]]
        if len(names) == 1:
            name = names[0]
            self.get = lambda fields: (fields[name],)
        elif names:
            self.get = itemgetter(*names)
        else:
            self.get = lambda fields: ()


def _strings(values: Sequence[Any], keys: Sequence[str | None]) -> tuple[list[str], list[str | None]]:
    """The strings matching sees (nulls dropped, list elements one by one, ``to_str``), with their keys."""
    parts: list[str] = []
    part_keys: list[str | None] = []
    for value, key in zip(values, keys, strict=True):
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if item is not None:
                parts.append(to_str(item))
                part_keys.append(key)
    return parts, part_keys


class RouteIndex:
    """The literal index of one route: ``nodes[i]`` is what rule position ``i`` evaluates (None:
    nothing, the rule always matches on this route)."""

    __slots__ = ("_automaton", "_fields", "_keyword", "_scans", "always", "requirements")

    def __init__(self, nodes: Sequence[Node | None]) -> None:
        self.requirements: tuple[Requirement | None, ...] = tuple(
            None if n is None else requirement(n) for n in nodes
        )
        self.always: tuple[int, ...] = tuple(i for i, r in enumerate(self.requirements) if r is None)
        by_literal: dict[str, dict[str | None, list[int]]] = {}
        for i, r in enumerate(self.requirements):
            if r is not None:
                for field, literal in sorted(r.atoms, key=lambda a: (a[0] or "", a[1])):
                    by_literal.setdefault(literal, {}).setdefault(field, []).append(i)
        self._fields = frozenset(f for d in by_literal.values() for f in d if f is not None)
        self._keyword = any(None in d for d in by_literal.values())
        self._automaton: Any = None
        if by_literal:
            automaton = ahocorasick.Automaton()
            for literal, by_field in by_literal.items():
                payload: _Payload = tuple(
                    (field, tuple(sorted(set(ids))))
                    for field, ids in sorted(by_field.items(), key=lambda kv: kv[0] is not None)
                )
                automaton.add_word(literal, payload)
            automaton.make_automaton()
            self._automaton = automaton
        self._scans: dict[KeyPlan, _ScanPlan] = {}

    @property
    def literal_count(self) -> int:
        return 0 if self._automaton is None else len(self._automaton)

    def candidates(self, view: EventView) -> Sequence[int]:
        """Sorted positions of the rules that may match the event of ``view`` (a superset of those
        that do)."""
        automaton = self._automaton
        if automaton is None:
            return self.always
        plan = view.plan()
        scan = self._scans.get(plan)
        if scan is None:
            if len(self._scans) >= _SCAN_PLAN_LIMIT:  # key plans are memoised with a bound too
                self._scans.clear()
            scan = self._scans[plan] = _ScanPlan(plan, self._fields, self._keyword)
        values: Sequence[Any] = scan.get(view.fields)
        keys: Sequence[str | None] = scan.keys
        if self._keyword and (raw := view.raw_text()):
            values, keys = (*values, raw), (*keys, None)
        try:
            text = SEP.join(values)
        except TypeError:  # not all plain strings: take the slow, exact way
            values, keys = _strings(values, keys)
            text = SEP.join(values)
        if text.isascii():
            text = text.lower()  # equals casefold() on ASCII, and keeps every value's length
        else:
            values = [v.casefold() for v in values]  # lengths may change: fold value by value
            text = SEP.join(values)
        found: set[int] = set()
        ends: list[int] | None = None
        for end, payload in automaton.iter(text):
            for field, ids in payload:
                if field is not None:
                    if ends is None:  # value i spans [ends[i-1], ends[i] - 1); the SEP sits at ends[i] - 1
                        ends = list(accumulate([len(v) + 1 for v in values]))
                    if keys[bisect_right(ends, end)] != field:
                        continue
                found.update(ids)
        if not found:
            return self.always
        found.update(self.always)
        return sorted(found)
