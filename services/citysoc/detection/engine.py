"""The detection engine: load Sigma rules once, match events synchronously.

Contract:

* :meth:`Engine.load` takes files and/or directories (recursive ``*.yml``/``*.yaml``, sorted). A file
  may hold several YAML documents (rule collections, ``action: global``, filters). Each rule is parsed
  by pySigma, sent through its processing pipeline (:mod:`citysoc.detection.pipelines`), and compiled
  (:mod:`citysoc.detection.compiler`). Every rule that cannot be parsed or compiled becomes one
  :class:`LoadError` (path, rule id if known, reason); a broken file or rule never stops the others.
  Correlation rules are reported as not supported yet. Rule ids must be unique (later duplicates are
  errors); a rule without ``id`` gets a deterministic one derived from file name, position and title.
* :meth:`Engine.match` is pure and synchronous: no I/O, no clock, no shared mutable state except a
  bounded prefilter cache. It returns one :class:`Hit` per matching rule, in load order.
* Prefilter ("index"): candidates are cached per (event product, Channel, EventID). A rule is skipped
  only when its logsource product differs, or when a Channel/EventID equality that the rule requires
  at top level (usually pipeline-added) cannot hold. Everything else is always checked, so the
  prefilter can let extra rules through but never drops a real match.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
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
from citysoc.detection.logsource import LogsourceGate, event_product
from citysoc.detection.pipelines import PipelineSet
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


class _Key(Enum):
    ABSENT = 0
    """The event has no such field."""
    ANY = 1
    """The field is present but not a single plain value: no filtering on it."""


type _ChannelKey = str | _Key
type _EventIdKey = int | _Key
type _Candidates = tuple[tuple[CompiledRule, LogsourceGate | None, Node | None], ...]
"""(rule, gate still to check or None, node still to evaluate or None = already known true)."""


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

    def __init__(self, compiled: Sequence[CompiledRule], errors: Sequence[LoadError] = ()) -> None:
        self._compiled = tuple(compiled)
        self.rules: list[RuleInfo] = [c.info for c in self._compiled]
        self.errors: list[LoadError] = list(errors)
        self._cache: dict[tuple[str | None, _ChannelKey, _EventIdKey], _Candidates] = {}

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
        for path, index, rule in parsed:
            rid = _rule_id(rule, path, index)
            reason = None
            if isinstance(rule, SigmaCorrelationRule):
                reason = "correlation rules are not supported yet"
            elif rule.errors:
                reason = "; ".join(f"{type(e).__name__}: {e}" for e in rule.errors)
            elif rid in seen:
                reason = f"duplicate rule id (first loaded from {seen[rid]})"
            if reason is not None:
                errors.append(LoadError(path, rid, reason, rule.title))
                continue
            assert isinstance(rule, SigmaRule)
            try:
                compiled.append(_compile(rule, path, rid, filters, pipelines))
                seen[rid] = path
            except CompileError as e:
                errors.append(LoadError(path, rid, str(e), rule.title))
            except SigmaError as e:
                errors.append(LoadError(path, rid, f"{type(e).__name__}: {e}", rule.title))
            except Exception as e:  # a pySigma bug on one odd rule must not stop the load
                errors.append(LoadError(path, rid, f"internal error {type(e).__name__}: {e}", rule.title))
        return cls(compiled, errors)

    # ------------------------------------------------------------------ matching

    def match(self, event: Event) -> list[Hit]:
        """Every rule that matches ``event``, in load order. Pure and synchronous."""
        # Keywords also search the raw message, but only where it is text (syslog family): for JSON
        # shapes the fields already hold every value, and the JSON text would add its field names.
        view = EventView(event.fields, event.raw if event.format in _TEXT_FORMATS else b"")
        product = event_product(event)
        hints = event.logsource
        hits: list[Hit] = []
        for c, gate, node in self._candidates(product, _channel_key(view), _event_id_key(view)):
            if (gate is None or gate.allows(hints, product)) and (node is None or node.match(view)):
                hits.append(Hit(c.info, view.matched_fields(c.detection.fields, MATCHED_VALUE_LIMIT)))
        return hits

    def _candidates(self, product: str | None, channel: _ChannelKey, event_id: _EventIdKey) -> _Candidates:
        key = (product, channel, event_id)
        found = self._cache.get(key)
        if found is None:
            found = tuple(
                _candidate(c, channel, event_id)
                for c in self._compiled
                if _may_match(c, product, channel, event_id)
            )
            if len(self._cache) >= _CACHE_LIMIT:  # odd inputs (random EventIDs) must not grow memory
                self._cache.clear()
            self._cache[key] = found
        return found


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


def _channel_key(view: EventView) -> _ChannelKey:
    fv = view.values(CHANNEL_FIELD)
    if fv is None:
        return _Key.ABSENT
    folded = fv.folded
    return folded[0] if len(folded) == 1 else _Key.ANY


def _event_id_key(view: EventView) -> _EventIdKey:
    fv = view.values(EVENT_ID_FIELD)
    if fv is None:
        return _Key.ABSENT
    numbers = fv.numbers
    if len(fv.items) == 1 and len(numbers) == 1 and float(numbers[0]).is_integer():
        return int(numbers[0])
    return _Key.ANY


def _candidate(
    c: CompiledRule, channel: _ChannelKey, event_id: _EventIdKey
) -> tuple[CompiledRule, LogsourceGate | None, Node | None]:
    d = c.detection
    # The index already checked the product; only service/category gates remain to be checked.
    gate = c.gate if c.gate.service is not None or c.gate.category is not None else None
    # Channel/EventID conjuncts are known true when the key is a concrete value that passed _may_match.
    verified = (d.channels is None or isinstance(channel, str)) and (
        d.event_ids is None or isinstance(event_id, int)
    )
    return c, gate, d.residual if verified else d.root


def _may_match(c: CompiledRule, product: str | None, channel: _ChannelKey, event_id: _EventIdKey) -> bool:
    if not c.gate.product_allows(product):
        return False
    d = c.detection
    if d.channels is not None and (
        channel is _Key.ABSENT or (channel is not _Key.ANY and channel not in d.channels)
    ):
        return False
    return d.event_ids is None or not (
        event_id is _Key.ABSENT or (event_id is not _Key.ANY and event_id not in d.event_ids)
    )
