"""Literal prefilter: which rules of a route could match an event, decided by one scan of its text.

Contract (house rule: the prefilter may let extra rules through, it never drops a real match):

* :func:`requirement` derives a *necessary condition* from a compiled condition tree: a set of atoms
  ``(field, literal)`` such that whenever the node matches an event, at least one atom holds, i.e. the
  casefolded string form of some value of ``field`` (of any field or the raw message when ``field`` is
  None: keywords) contains ``literal``. None means "no usable condition": the rule is always a
  candidate. Derivation: an AND needs any one child's requirement (the most selective is taken, see
  :func:`literal_cost`); an OR needs every child's (their union); NOT, ``null``, ``exists``,
  ``fieldref``, numbers, booleans, CIDR and comparisons give none; a regular expression gives its
  longest required literal (:func:`~citysoc.detection.values.required_literals`), if any; string tests
  give their literals (:meth:`StringSet.needles <citysoc.detection.values.StringSet.needles>`:
  equals, startswith, endswith, contains, wildcard patterns and ``|cased`` all imply "contains, after
  casefolding"). Literals shorter than :data:`MIN_LITERAL` or containing :data:`SEP` give none either.
* :func:`clauses` derives a conjunction of such requirements (every AND child contributes its own),
  the most selective first, at most :data:`MAX_CLAUSES`: all must hold for the rule to match.
* :class:`RouteIndex` compiles the distinct literals of one route's clauses into one multi-pattern
  scanner and scans one text per event: the values of the fields its atoms name (of every field, plus
  the raw text, when a keyword atom exists) joined with :data:`SEP`. An atom *holds* when its literal
  is found anywhere in that text and its field is present in the event (or it is a keyword atom): the
  field's own value is not checked (the rule's evaluation does that), which lets the text be built
  with one ``str.format`` per event (template made once per route and event key set) and the scanner
  report each literal once. A rule is a candidate when an atom of its first clause holds (the
  trigger) and each of its other clauses has a holding atom; rules without clauses always are.
  Lists (element by element, nulls dropped) and floats are rendered with
  :func:`~citysoc.detection.view.to_str`, so the scan sees at least the strings matching sees.
  Non-ASCII text is casefolded as a whole (casefolding maps character by character, so each value's
  fold is a piece of the text's fold); ASCII text is scanned caselessly.
* Scanners (:data:`BACKENDS`): ``hyperscan`` (caseless literals, each reported at most once per scan)
  when the wheel is installed, else ``pyahocorasick`` (one automaton over the lowercased text). Both
  give the same candidates; the tests run both.

Pure: no I/O. The only state is bounded memos: per route, scan plans (per event key set) and clause
tables (per set of present atom fields); per engine, compiled scanners (per literal set).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final, Literal, cast

import ahocorasick

from citysoc.detection.conditions import AndNode, FieldNode, KeywordNode, Node, OrNode
from citysoc.detection.values import RegexTest, StringSet, ValueTest
from citysoc.detection.view import EventView, KeyPlan, to_str

_hs: Any
try:  # optional accelerator (x86-64 Linux wheels); pyahocorasick is the portable fallback
    import hyperscan as _hs
except ImportError:  # pragma: no cover - depends on the platform
    _hs = None

type Backend = Literal["hyperscan", "pyahocorasick"]
BACKENDS: Final[tuple[Backend, ...]] = (*(("hyperscan",) if _hs is not None else ()), "pyahocorasick")
"""Available scanners, fastest first."""
BACKEND: Final[Backend] = BACKENDS[0]
"""The scanner a :class:`RouteIndex` uses unless told otherwise (benchmarks print it)."""

MIN_LITERAL: Final = 3
"""Shorter literals match nearly every value: the scan would report them all the time."""
SEP: Final = "\x00"
"""Joins the scanned values. A literal containing it gives no requirement, so every literal found lies
inside one value (or is an extra candidate, never a lost one)."""
MAX_CLAUSES: Final = 4
"""Clauses kept per rule: the first triggers the rule, the others are checked against the same scan."""
_SCAN_PLAN_LIMIT = 1024
_SHAPE_LIMIT = 64
_FAST_TYPES: Final = frozenset({str, int, bool, type(None)})
"""Values ``str.format`` renders as a superset of what matching sees, after casefolding ("True" for
``True``; ``None`` adds the text "None", which may only add candidates)."""

type _Tables = tuple[tuple[frozenset[int], ...], dict[int, tuple[frozenset[int], ...]]]
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


def literal_cost(field: str | None, literal: str) -> float:
    """Estimated chance that ``literal`` occurs in ``field`` of an unrelated event (a heuristic)."""
    if literal in _COMMON:
        return 1.0
    cost = 0.5 ** min(len(literal), 24)
    return cost * 4 if field is None else cost  # any value is a larger haystack than one field


def _make(atoms: frozenset[Atom]) -> Requirement:
    return Requirement(atoms, min(1.0, sum(literal_cost(f, lit) for f, lit in atoms)))


def _tests_requirement(field: str | None, tests: Sequence[ValueTest]) -> Requirement | None:
    atoms: set[Atom] = set()
    for t in tests:
        needles = t.needles() if isinstance(t, (StringSet, RegexTest)) else None
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


def clauses(node: Node, limit: int = MAX_CLAUSES) -> tuple[Requirement, ...]:
    """Necessary conditions that must ALL hold whenever ``node`` matches (a conjunction of
    :class:`Requirement`), the most selective first, at most ``limit``; () when none is known.

    An AND contributes its children's clauses (every child must match); anything else contributes its
    :func:`requirement`, if any.
    """
    found: dict[frozenset[Atom], Requirement] = {}
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, AndNode):
            stack.extend(n.children)
        elif (r := requirement(n)) is not None:
            found.setdefault(r.atoms, r)
    ordered = sorted(found.values(), key=lambda r: (r.cost, len(r.atoms), sorted(map(str, r.atoms))))
    return tuple(ordered[:limit])


# ------------------------------------------------------------------ the text of an event


class _ScanPlan:
    """For one event key set: which fields to fetch, the ``str.format`` template joining them, and the
    clauses with the atoms on absent fields dropped (a rule with an emptied clause cannot match)."""

    __slots__ = ("checks", "get", "shapes", "template", "triggers")

    triggers: tuple[frozenset[int], ...]
    """literal id -> rule positions whose first clause it satisfies."""
    checks: Mapping[int, tuple[frozenset[int], ...]]
    """rule position -> literal-id sets of its other clauses (each must meet the scan's literals)."""

    def __init__(self, plan: KeyPlan, index: RouteIndex) -> None:
        self.get: Callable[[Mapping[str, Any]], Iterable[Any]]
        if index.keyword:  # every value, in the event's order (the plan is of this exact key order)
            self.template = SEP.join(["{}"] * len(plan.keys))
            self.get = _all_values
        else:
            names = [n for key, spelled in plan.names.items() if key in index.fields for n in spelled]
            self.template = SEP.join(["{}"] * len(names))
            if len(names) == 1:
                name = names[0]
                self.get = lambda fields: (fields[name],)
            elif names:
                self.get = itemgetter(*names)
            else:
                self.get = lambda fields: ()
        self.triggers, self.checks = index.tables(frozenset(k for k in plan.names if k in index.fields))
        self.shapes: dict[tuple[type, ...], tuple[int, ...]] = {}
        """Value types seen -> positions that ``str.format`` cannot render faithfully (lists, floats)."""

    def text(self, values: Iterable[Any]) -> str:
        shape = tuple(map(type, values))
        special = self.shapes.get(shape)
        if special is None:
            if len(self.shapes) >= _SHAPE_LIMIT:
                self.shapes.clear()
            special = self.shapes[shape] = tuple(i for i, t in enumerate(shape) if t not in _FAST_TYPES)
        if special:
            rendered = list(values)
            for i in special:
                rendered[i] = _render(rendered[i])
            return self.template.format(*rendered)
        return self.template.format(*values)


def _all_values(fields: Mapping[str, Any]) -> Iterable[Any]:
    return fields.values()


def _render(value: Any) -> str:
    """What matching sees of a list (elements one by one, nulls dropped) or a float, as scan text."""
    if isinstance(value, (list, tuple)):
        return SEP.join(to_str(v) for v in value if v is not None)
    return to_str(value)


# ------------------------------------------------------------------ scanners


def _on_match(literal: int, start: int, end: int, flags: int, found: object) -> None:
    cast(set[int], found).add(literal)


class _Hyperscan:
    """Caseless literals, each reported at most once per scan. ASCII text is scanned as is."""

    __slots__ = ("_db",)

    def __init__(self, literals: Sequence[str]) -> None:
        assert _hs is not None
        flags = _hs.HS_FLAG_CASELESS | _hs.HS_FLAG_SINGLEMATCH
        self._db = _hs.Database()
        self._db.compile(
            expressions=[lit.encode("utf-8", "surrogatepass") for lit in literals],
            ids=list(range(len(literals))),
            elements=len(literals),
            flags=[flags] * len(literals),
            literal=True,
        )

    def scan(self, text: str) -> set[int]:
        found: set[int] = set()
        self._db.scan(text.encode("utf-8", "surrogatepass"), match_event_handler=_on_match, context=found)
        return found


class _AhoCorasick:
    """One automaton of the literals; reports every occurrence, so the caller de-duplicates."""

    __slots__ = ("_automaton",)

    def __init__(self, literals: Sequence[str]) -> None:
        automaton = ahocorasick.Automaton()
        for i, literal in enumerate(literals):
            automaton.add_word(literal, i)
        automaton.make_automaton()
        self._automaton = automaton

    def scan(self, text: str) -> set[int]:
        return {i for _, i in self._automaton.iter(text.lower() if text.isascii() else text)}


_SCANNERS: Final[dict[Backend, Callable[[Sequence[str]], _Hyperscan | _AhoCorasick]]] = {
    "hyperscan": _Hyperscan,
    "pyahocorasick": _AhoCorasick,
}
_SCANNER_CACHE_LIMIT = 256


class ScannerCache:
    """Compiled scanners by (backend, literals), shared by the routes of one engine: routes that differ
    only in rules without literals (e.g. Security events of several EventIDs) compile once."""

    __slots__ = ("_scanners",)

    def __init__(self) -> None:
        self._scanners: dict[tuple[Backend, tuple[str, ...]], _Hyperscan | _AhoCorasick] = {}

    def get(self, backend: Backend, literals: tuple[str, ...]) -> _Hyperscan | _AhoCorasick:
        key = (backend, literals)
        scanner = self._scanners.get(key)
        if scanner is None:
            if len(self._scanners) >= _SCANNER_CACHE_LIMIT:
                self._scanners.clear()
            scanner = self._scanners[key] = _SCANNERS[backend](literals)
        return scanner


class RouteIndex:
    """The literal index of one route: ``nodes[i]`` is what rule position ``i`` evaluates (None:
    nothing, the rule always matches on this route)."""

    __slots__ = (
        "_scanner",
        "_scans",
        "_tables",
        "always",
        "backend",
        "clauses",
        "fields",
        "keyword",
        "literal_ids",
        "literals",
    )

    def __init__(
        self, nodes: Sequence[Node | None], backend: Backend | None = None, cache: ScannerCache | None = None
    ) -> None:
        self.backend: Backend = backend or BACKEND
        if self.backend not in BACKENDS:
            raise ValueError(f"literal scanner {self.backend!r} is not available here (have {BACKENDS})")
        self.clauses: tuple[tuple[Requirement, ...], ...] = tuple(
            () if n is None else clauses(n) for n in nodes
        )
        """Per rule position: the necessary conditions the scan checks (see :func:`clauses`)."""
        self.always: tuple[int, ...] = tuple(i for i, c in enumerate(self.clauses) if not c)
        atoms = {a for cs in self.clauses for c in cs for a in c.atoms}
        self.literals: tuple[str, ...] = tuple(sorted({lit for _, lit in atoms}))
        self.literal_ids = {lit: i for i, lit in enumerate(self.literals)}
        self.fields = frozenset(f for f, _ in atoms if f is not None)
        self.keyword = any(f is None for f, _ in atoms)
        """A keyword atom exists: every field (and the raw text) is scanned."""
        self._scanner = (cache or ScannerCache()).get(self.backend, self.literals) if self.literals else None
        self._scans: dict[KeyPlan, _ScanPlan] = {}
        self._tables: dict[frozenset[str], _Tables] = {}

    def tables(self, present: frozenset[str]) -> _Tables:
        """Trigger and check tables for events in which exactly the atom fields ``present`` exist: the
        clauses with atoms on absent fields dropped (a rule with an emptied clause cannot match).
        Memoised per field set: many key sets share one."""
        found = self._tables.get(present)
        if found is not None:
            return found
        triggers: list[set[int]] = [set() for _ in self.literals]
        checks: dict[int, tuple[frozenset[int], ...]] = {}
        ids = self.literal_ids
        for pos, rule_clauses in enumerate(self.clauses):
            if not rule_clauses:
                continue
            sets = [
                frozenset(ids[lit] for f, lit in c.atoms if f is None or f in present) for c in rule_clauses
            ]
            if not all(sets):
                continue  # a clause whose every field is absent: the rule cannot match such events
            for lit_id in sets[0]:
                triggers[lit_id].add(pos)
            if len(sets) > 1:
                checks[pos] = tuple(sets[1:])
        if len(self._tables) >= _SCAN_PLAN_LIMIT:
            self._tables.clear()
        found = self._tables[present] = (tuple(map(frozenset, triggers)), checks)
        return found

    @property
    def literal_count(self) -> int:
        return len(self.literals)

    def _plan(self, view: EventView) -> _ScanPlan:
        plan = view.plan()
        scan = self._scans.get(plan)
        if scan is None:
            if len(self._scans) >= _SCAN_PLAN_LIMIT:  # key plans are memoised with a bound too
                self._scans.clear()
            scan = self._scans[plan] = _ScanPlan(plan, self)
        return scan

    def text(self, view: EventView) -> str:
        """The text scanned for ``view`` (see the module contract), casefolded unless ASCII."""
        return self._text(self._plan(view), view)

    def _text(self, scan: _ScanPlan, view: EventView) -> str:
        text = scan.text(scan.get(view.fields))
        if self.keyword and (raw := view.raw_text()):
            text += SEP + raw
        return text if text.isascii() else text.casefold()

    def candidates(self, view: EventView) -> Sequence[int]:
        """Sorted positions of the rules that may match the event of ``view`` (a superset of those
        that do)."""
        scanner = self._scanner
        if scanner is None:
            return self.always
        scan = self._plan(view)
        found = scanner.scan(self._text(scan, view))
        if not found:
            return self.always
        triggers = scan.triggers
        touched: set[int] = set()
        for lit in found:
            touched |= triggers[lit]
        if not touched:
            return self.always
        checks = scan.checks
        out = set(self.always)
        for pos in touched:
            more = checks.get(pos)
            if more is not None:
                for clause in more:
                    if found.isdisjoint(clause):
                        break
                else:
                    out.add(pos)
            else:
                out.add(pos)
        return sorted(out)
