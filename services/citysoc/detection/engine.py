"""The detection engine: load Sigma rules once, match events synchronously.

Contract:

* :meth:`Engine.load` takes files and/or directories (recursive ``*.yml``/``*.yaml``, sorted). A file
  may hold several YAML documents (rule collections, ``action: global``, filters). Each rule is parsed
  by pySigma, sent through its processing pipeline (:mod:`citysoc.detection.pipelines`), and compiled
  (:mod:`citysoc.detection.compiler`). Every rule that cannot be parsed or compiled becomes one
  :class:`LoadError` (path, rule id if known, reason); a broken file or rule never stops the others.
  Correlation rules are compiled into ``Engine.correlations`` (:mod:`citysoc.detection.correlation`;
  one referencing an unknown or unloaded rule, or using an unsupported feature, is a LoadError with
  the reason); ``match`` never evaluates them. Rule ids must be unique (later duplicates are
  errors); a rule without ``id`` gets a deterministic one derived from file name, position and title.
* :meth:`Engine.match` is pure and synchronous: no I/O, no clock, no shared mutable state except a
  bounded prefilter cache. It returns one :class:`Hit` per matching rule, in load order.
* Routing: rules are grouped per (event product, service and category hints, Channel, EventID), once
  per such key (cached, bounded). Each rule's condition is specialised to the key
  (:func:`~citysoc.detection.conditions.specialize`): Channel/EventID tests the key decides are folded
  away (exactly: an EventID key decides number tests, a Channel key case-insensitive string tests), so
  a rule leaves the route when its logsource gate (:mod:`citysoc.detection.logsource`) refuses the
  hints or its condition is false for every event with that key, and otherwise only the rest of its
  condition is evaluated.
* Prefilter: within a route, :class:`~citysoc.detection.index.RouteIndex` keeps only the rules whose
  necessary literals occur in the event (one scan, see :mod:`citysoc.detection.index`). Both steps may
  let extra rules through but never drop a real match; :meth:`Engine.match_full_scan` skips both and
  must give the same hits (tests/detection/test_differential.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from citysoc.core.alert import LEVELS, Level
from citysoc.core.event import Event, stable_id
from citysoc.detection.compiler import (
    CHANNEL_FIELD,
    EVENT_ID_FIELD,
    CompiledDetection,
    CompileError,
    compile_detection,
)
from citysoc.detection.conditions import Node
from citysoc.detection.correlation.rules import CorrelationRuleInfo, compile_correlations
from citysoc.detection.index import Backend, RouteIndex, ScannerCache
from citysoc.detection.logsource import LogsourceGate, event_product
from citysoc.detection.pipelines import PipelineSet
from citysoc.detection.profiling import Profiler
from citysoc.detection.routing import (
    ABSENT,
    SLOW,
    ChannelKey,
    EventIdKey,
    channel_key,
    event_id_key,
    route_node,
)
from citysoc.detection.view import EventView

RULE_SUFFIXES = (".yml", ".yaml")
MATCHED_VALUE_LIMIT = 1024
_CACHE_LIMIT = 4096
_TEXT_FORMATS = frozenset({"rfc5424", "rfc3164", "cef", "leef", "auditd", "unknown"})


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What an alert needs to know about a rule."""

    rule_id: str
    title: str
    level: Level
    """informational/low/medium/high/critical; medium when the rule has none."""
    status: str
    """The rule's own ``status`` (stable, test, experimental, ...) or ""."""
    tags: tuple[str, ...]
    path: Path


@dataclass(frozen=True, slots=True)
class Hit:
    rule: RuleInfo
    matched_fields: dict[str, str]
    """Event fields the rule references that are present in the event (event's spelling), as text,
    each cut to about 1 KB."""


@dataclass(frozen=True, slots=True)
class LoadError:
    path: Path
    rule_id: str | None
    reason: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class CompiledRule:
    info: RuleInfo
    gate: LogsourceGate
    detection: CompiledDetection


type _RouteKey = tuple[str | None, str | None, str | None, ChannelKey, EventIdKey]
"""(event product, service hint, category hint, Channel, EventID): everything routing depends on."""


@dataclass(frozen=True, slots=True)
class _Route:
    """The rules that may fire on one kind of event: logsource gate passed, Channel/EventID possible.

    ``nodes[i]`` is what remains to evaluate for ``rules[i]`` (None: nothing, it always matches here);
    ``index`` prefilters positions by literal.
    """

    rules: tuple[CompiledRule, ...]
    nodes: tuple[Node | None, ...]
    index: RouteIndex


def rule_files(paths: Iterable[Path], errors: list[LoadError] | None = None) -> list[Path]:
    """Rule files under ``paths`` (files as given, directories recursively), in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in RULE_SUFFIXES and f.is_file()))
        elif p.is_file():
            out.append(p)
        elif errors is not None:
            errors.append(LoadError(p, None, "no such file or directory"))
    return out


def _rule_id(rule: SigmaRule | SigmaCorrelationRule, path: Path, index: int) -> str:
    if rule.id is not None:
        return str(rule.id)
    return stable_id("sigma-rule", path.name, index, rule.title)


def rule_info(rule: SigmaRule, path: Path, rule_id: str) -> RuleInfo:
    level = str(rule.level) if rule.level is not None else "medium"
    return RuleInfo(
        rule_id=rule_id,
        title=rule.title,
        level=cast(Level, level if level in LEVELS else "medium"),
        status=str(rule.status) if rule.status is not None else "",
        tags=tuple(str(t) for t in rule.tags),
        path=path,
    )


class Engine:
    """Compiled rules plus the errors of the ones that could not be loaded."""

    correlations: tuple[CorrelationRuleInfo, ...] = ()
    """Compiled correlation rules (set by :meth:`from_sources`), run by ``CorrelationEngine``."""

    def __init__(self, compiled: Sequence[CompiledRule], errors: Sequence[LoadError] = ()) -> None:
        self._compiled = tuple(compiled)
        self.rules: list[RuleInfo] = [c.info for c in self._compiled]
        self.errors: list[LoadError] = list(errors)
        self._routes: dict[_RouteKey, _Route] = {}
        self._fast: dict[object, _Route] = {}
        self._scanners = ScannerCache()
        self.backend: Backend | None = None
        """Literal scanner of the route indexes (None: the fastest available, ``index.BACKEND``)."""

    def with_backend(self, backend: Backend) -> Engine:
        """The same rules with another literal scanner (for tests comparing scanners)."""
        engine = Engine(self._compiled, self.errors)
        engine.correlations = self.correlations
        engine.backend = backend
        return engine

    @property
    def route_count(self) -> int:
        """Routes built so far (one per kind of event seen; see the module docstring)."""
        return len(self._routes)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, paths: Sequence[Path]) -> Engine:
        """Load every rule under ``paths``; see the module docstring for the error contract."""
        errors: list[LoadError] = []
        sources: list[tuple[Path, str]] = []
        for f in rule_files(paths, errors):
            try:
                sources.append((f, f.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as e:
                errors.append(LoadError(f, None, f"cannot read file: {e}"))
        return cls.from_sources(sources, errors)

    @classmethod
    def from_yaml(cls, text: str, path: Path = Path("<memory>")) -> Engine:
        """Engine from one YAML text (one or several documents). For tests and tooling."""
        return cls.from_sources([(path, text)])

    @classmethod
    def from_sources(
        cls, sources: Iterable[tuple[Path, str]], errors: list[LoadError] | None = None
    ) -> Engine:
        errors = [] if errors is None else errors
        parsed: list[tuple[Path, int, SigmaRule | SigmaCorrelationRule]] = []
        filters: list[SigmaFilter] = []
        for path, text in sources:
            try:
                collection = SigmaCollection.from_yaml(
                    text,
                    collect_errors=True,
                    source=SigmaRuleLocation(path),
                    collect_filters=True,
                    resolve_references=False,
                )
            except Exception as e:  # pySigma/YAML raise many types on malformed input; isolate the file
                errors.append(LoadError(path, None, f"cannot parse file: {type(e).__name__}: {e}"))
                continue
            rule_errors = {id(err) for r in collection.rules for err in r.errors}
            for err in collection.errors:
                if id(err) not in rule_errors:
                    errors.append(LoadError(path, None, f"{type(err).__name__}: {err}"))
            parsed.extend((path, i, r) for i, r in enumerate(collection.rules))
            filters.extend(collection.filters)

        pipelines = PipelineSet()
        compiled: list[CompiledRule] = []
        seen: dict[str, Path] = {}
        correlations: list[tuple[Path, str, SigmaCorrelationRule]] = []
        bases: list[tuple[str, SigmaRule]] = []  # every parsed base rule: references tell unknown from broken
        for path, index, rule in parsed:
            rid = _rule_id(rule, path, index)
            reason = None
            if isinstance(rule, SigmaRule):
                bases.append((rid, rule))
            if rule.errors:
                reason = "; ".join(f"{type(e).__name__}: {e}" for e in rule.errors)
            elif rid in seen:
                reason = f"duplicate rule id (first loaded from {seen[rid]})"
            if reason is not None:
                errors.append(LoadError(path, rid, reason, rule.title))
                continue
            if isinstance(rule, SigmaCorrelationRule):  # compiled below, once every base rule is known
                correlations.append((path, rid, rule))
                seen[rid] = path
                continue
            try:
                compiled.append(_compile(rule, path, rid, filters, pipelines))
                seen[rid] = path
            except CompileError as e:
                errors.append(LoadError(path, rid, str(e), rule.title))
            except SigmaError as e:
                errors.append(LoadError(path, rid, f"{type(e).__name__}: {e}", rule.title))
            except Exception as e:  # a pySigma bug on one odd rule must not stop the load
                errors.append(LoadError(path, rid, f"internal error {type(e).__name__}: {e}", rule.title))
        infos, problems = compile_correlations(correlations, bases, {c.info.rule_id for c in compiled})
        errors.extend(LoadError(p.path, p.rule_id, p.reason, p.title) for p in problems)
        engine = cls(compiled, errors)
        engine.correlations = tuple(infos)
        return engine

    # ------------------------------------------------------------------ matching

    def match(self, event: Event) -> list[Hit]:
        """Every rule that matches ``event``, in load order. Pure and synchronous."""
        view = _view(event)
        route = self._route(event, view)
        rules, nodes = route.rules, route.nodes
        hits: list[Hit] = []
        for i in route.index.candidates(view):
            node = nodes[i]
            if node is None or node.match(view):
                c = rules[i]
                hits.append(Hit(c.info, view.matched_fields(c.detection.fields, MATCHED_VALUE_LIMIT)))
        return hits

    def match_full_scan(self, event: Event) -> list[Hit]:
        """:meth:`match` without routing or prefilter: every rule whose logsource gate admits the event is
        evaluated with its whole, unspecialised condition.

        Same answer as :meth:`match` by contract (the differential tests check it); slow, for tests.
        """
        view = _view(event)
        product = event_product(event)
        return [
            Hit(c.info, view.matched_fields(c.detection.fields, MATCHED_VALUE_LIMIT))
            for c in self._compiled
            if c.gate.allows(event.logsource, product) and c.detection.root.match(view)
        ]

    def match_profiled(self, event: Event, profiler: Profiler) -> list[Hit]:
        """:meth:`match`, recording the prefilter time, route builds, and each candidate rule's
        evaluation time and hit into ``profiler``. Same hits; reads the clock, so it is for ``--profile``
        only."""
        clock = time.perf_counter
        routes = len(self._routes)
        t0 = clock()
        view = _view(event)
        route = self._route(event, view)
        t1 = clock()
        candidates = route.index.candidates(view)
        t2 = clock()
        if len(self._routes) != routes:  # this event's kind was new: its route (and index) was built
            profiler.add_route_build(t1 - t0)
            profiler.add_event(t2 - t1, len(candidates))
        else:
            profiler.add_event(t2 - t0, len(candidates))
        hits: list[Hit] = []
        for i in candidates:
            c, node = route.rules[i], route.nodes[i]
            t1 = clock()
            ok = node is None or node.match(view)
            profiler.add_rule(c.info, clock() - t1, ok)
            if ok:
                hits.append(Hit(c.info, view.matched_fields(c.detection.fields, MATCHED_VALUE_LIMIT)))
        return hits

    def candidates(self, event: Event) -> list[RuleInfo]:
        """The rules :meth:`match` would evaluate for ``event`` (after routing and the prefilter)."""
        view = _view(event)
        route = self._route(event, view)
        return [route.rules[i].info for i in route.index.candidates(view)]

    def routed_rule_count(self, event: Event) -> int:
        """How many rules ``event``'s route holds (what a full scan evaluates), for tests and tooling."""
        return len(self._route(event, _view(event)).rules)

    def _route(self, event: Event, view: EventView) -> _Route:
        # Fast path: the same raw (hints, format, Channel, EventID) as an earlier event. The value's type
        # is part of the key (True == 1 == 1.0 as dict keys); unhashable values take the slow path.
        names = view.plan().names
        fields = view.fields
        ch, ei = names.get(CHANNEL_FIELD), names.get(EVENT_ID_FIELD)
        ch_raw = ABSENT if ch is None else fields[ch[0]] if len(ch) == 1 else SLOW
        ei_raw = ABSENT if ei is None else fields[ei[0]] if len(ei) == 1 else SLOW
        fast: object = (event.logsource, event.format, ch_raw, type(ch_raw), ei_raw, type(ei_raw))
        try:
            route = self._fast.get(fast)
        except TypeError:
            route, fast = None, None
        if route is not None:
            return route
        route = self._build_route(event, view)
        if fast is not None:
            if len(self._fast) >= _CACHE_LIMIT:
                self._fast.clear()
            self._fast[fast] = route
        return route

    def _build_route(self, event: Event, view: EventView) -> _Route:
        product = event_product(event)
        hints = event.logsource
        key = (product, hints.service, hints.category, channel_key(view), event_id_key(view))
        route = self._routes.get(key)
        if route is None:
            _, _, _, channel, event_id = key
            picked: list[tuple[CompiledRule, Node | None]] = []
            for c in self._compiled:
                if c.gate.allows(hints, product):
                    node = route_node(c.detection, channel, event_id)
                    if node is not False:
                        picked.append((c, None if node is True else node))
            nodes = tuple(n for _, n in picked)
            index = RouteIndex(nodes, self.backend, self._scanners)
            route = _Route(tuple(c for c, _ in picked), nodes, index)
            if len(self._routes) >= _CACHE_LIMIT:  # odd inputs (random EventIDs) must not grow memory
                self._routes.clear()
                self._fast.clear()
            self._routes[key] = route
        return route


def _compile(
    rule: SigmaRule,
    path: Path,
    rule_id: str,
    filters: Sequence[SigmaFilter],
    pipelines: PipelineSet,
) -> CompiledRule:
    info = rule_info(rule, path, rule_id)
    for f in filters:
        applied = f.apply_on_rule(rule)
        assert isinstance(applied, SigmaRule)
        rule = applied
    pipeline = pipelines.pipeline_for(rule.logsource)
    if pipeline is not None:
        pipeline.apply(rule)
    detection = compile_detection(rule)
    return CompiledRule(info, LogsourceGate.for_rule(rule.logsource), detection)


def _view(event: Event) -> EventView:
    # Keywords also search the raw message, but only where it is text (syslog family): for JSON
    # shapes the fields already hold every value, and the JSON text would add its field names.
    return EventView(event.fields, event.raw if event.format in _TEXT_FORMATS else b"")
