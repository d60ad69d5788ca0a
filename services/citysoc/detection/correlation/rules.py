"""Compile pySigma correlation rules into the flat specs the state machine runs (load time only).

Contract (:func:`compile_correlations`):

* Input: the correlation rules the engine parsed (path, rule id, rule), every base rule it parsed
  (rule id, rule; including ones that failed to compile) and the ids of the base rules that loaded.
* A reference (``rules:`` entry or alias key) names a base rule by ``id`` (any UUID spelling) or by
  ``name``. It must resolve to a base rule that loaded; otherwise the correlation rule is a problem
  with the reason ("references unknown rule", "references rule X that failed to load").
* Supported: ``event_count``, ``value_count``, ``temporal``, ``temporal_ordered`` with a plain
  condition (``gt``/``gte``/``lt``/``lte``/``eq``/``neq`` + count; ``field`` for value_count, one field
  or a list = distinct combinations). Rejected with a reason: ``value_sum``/``value_avg``/
  ``value_percentile``/``value_median``, extended (boolean string) temporal conditions, and
  correlations that reference other correlation rules (chaining).
* Field names: a ``group-by`` name (or the value_count field) is first translated through ``aliases``
  for each referenced rule, then through that rule's field-name pipeline (the syslog pipeline maps
  ``SourceIp`` etc. onto ``src_ip``, exactly as the base rule's own fields were mapped), and is
  looked up case-insensitively, like every field in this engine.

Pure: no I/O. Imports nothing from :mod:`citysoc.detection.engine` (the engine imports this module).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, cast

import orjson
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.rule import SigmaRule

from citysoc.core.alert import LEVELS, Level
from citysoc.core.event import stable_id
from citysoc.detection.pipelines import SYSLOG_FIELD_MAPPING, pipeline_kind

CorrelationType = Literal["event_count", "value_count", "temporal", "temporal_ordered"]
Op = Literal["gt", "gte", "lt", "lte", "eq", "neq"]

SUPPORTED_TYPES: Final[frozenset[str]] = frozenset(
    {"event_count", "value_count", "temporal", "temporal_ordered"}
)
EAGER_OPS: Final[frozenset[str]] = frozenset({"gt", "gte"})
"""Monotone conditions: once true for a window they stay true as events are added, so they fire on
the event that makes them true. The others (lt, lte, eq, neq) are decided when the window closes."""


@dataclass(frozen=True, slots=True)
class CorrelationRuleInfo:
    """One compiled correlation rule: what alerts need, plus the spec the state machine runs."""

    rule_id: str
    title: str
    level: Level
    status: str
    tags: tuple[str, ...]
    type: CorrelationType
    group_by: tuple[str, ...]
    """Group-by names as written in the rule (alias names where aliases are used)."""
    timespan_s: int
    referenced_rule_ids: tuple[str, ...]
    """Base rule ids in the rule's listed order (the order ``temporal_ordered`` requires)."""
    path: Path
    generate: bool
    op: Op
    count: int
    group_fields: tuple[tuple[str, ...], ...]
    """Per referenced rule (same index as ``referenced_rule_ids``): the casefolded event field name
    read for each group-by name."""
    value_fields: tuple[tuple[str, ...], ...]
    """Per referenced rule: casefolded event field names whose values value_count counts; () else."""

    @property
    def eager(self) -> bool:
        """True when the condition fires on the completing event (gt/gte), False when at window close."""
        return self.op in EAGER_OPS

    @property
    def fingerprint(self) -> str:
        """Identity of the rule's semantics; state saved under another fingerprint is not restored."""
        return stable_id(
            "corr-spec",
            orjson.dumps(
                [
                    self.type,
                    self.group_by,
                    self.timespan_s,
                    self.referenced_rule_ids,
                    self.op,
                    self.count,
                    self.group_fields,
                    self.value_fields,
                ]
            ),
        )

    def holds(self, metric: int) -> bool:
        """The rule's condition for a window whose metric (count, distinct values, rules) is ``metric``."""
        match self.op:
            case "gt":
                return metric > self.count
            case "gte":
                return metric >= self.count
            case "lt":
                return metric < self.count
            case "lte":
                return metric <= self.count
            case "eq":
                return metric == self.count
            case "neq":
                return metric != self.count


@dataclass(frozen=True, slots=True)
class CorrelationProblem:
    """A correlation rule that cannot run; the engine turns it into a ``LoadError``."""

    path: Path
    rule_id: str
    reason: str
    title: str


class _Reject(Exception):
    pass


def _ref_key(reference: str) -> str:
    """References name rules by UUID (any spelling) or by name: normalise UUIDs."""
    try:
        return str(uuid.UUID(reference))
    except ValueError:
        return reference


def compile_correlations(
    correlations: Sequence[tuple[Path, str, SigmaCorrelationRule]],
    base_rules: Sequence[tuple[str, SigmaRule]],
    loaded: Collection[str],
) -> tuple[list[CorrelationRuleInfo], list[CorrelationProblem]]:
    """Compile each correlation rule; see the module doc for the resolution and rejection rules."""
    by_ref: dict[str, tuple[str, SigmaRule]] = {}
    for rid, base in base_rules:  # first definition wins, as in the engine's duplicate-id rule
        by_ref.setdefault(_ref_key(rid), (rid, base))
        if base.name:
            by_ref.setdefault(base.name, (rid, base))
    correlation_refs = {_ref_key(rid) for _, rid, _ in correlations}
    correlation_refs.update(r.name for _, _, r in correlations if r.name)

    infos: list[CorrelationRuleInfo] = []
    problems: list[CorrelationProblem] = []
    for path, rid, rule in correlations:
        try:
            infos.append(_compile(rule, path, rid, by_ref, correlation_refs, loaded))
        except _Reject as e:
            problems.append(CorrelationProblem(path, rid, str(e), rule.title))
    return infos, problems


def _resolve(
    reference: str,
    by_ref: Mapping[str, tuple[str, SigmaRule]],
    correlation_refs: Collection[str],
    loaded: Collection[str],
) -> tuple[str, SigmaRule]:
    key = _ref_key(reference)
    found = by_ref.get(key)
    if found is None:
        if key in correlation_refs:
            raise _Reject(f"correlation references correlation rule {reference!r}: chaining is not supported")
        raise _Reject(f"correlation references unknown rule {reference!r}")
    if found[0] not in loaded:
        raise _Reject(f"correlation references rule {reference!r} ({found[0]}) that failed to load")
    return found


def _compile(
    rule: SigmaCorrelationRule,
    path: Path,
    rid: str,
    by_ref: Mapping[str, tuple[str, SigmaRule]],
    correlation_refs: Collection[str],
    loaded: Collection[str],
) -> CorrelationRuleInfo:
    ctype = str(rule.type)
    if rule.type not in (
        SigmaCorrelationType.EVENT_COUNT,
        SigmaCorrelationType.VALUE_COUNT,
        SigmaCorrelationType.TEMPORAL,
        SigmaCorrelationType.TEMPORAL_ORDERED,
    ):
        raise _Reject(f"correlation type {ctype} is not supported (event_count, value_count, temporal, ...)")
    cond = rule.condition
    if not isinstance(cond, SigmaCorrelationCondition):
        raise _Reject("extended (boolean expression) correlation conditions are not supported")
    if not rule.rules:
        raise _Reject("correlation rule references no rules")

    refs = [_resolve(r.reference, by_ref, correlation_refs, loaded) for r in rule.rules]
    ref_ids = tuple(rid_ for rid_, _ in refs)
    if len(set(ref_ids)) != len(ref_ids):
        raise _Reject("a rule is referenced twice")

    # aliases: {alias name: {reference: field}} -> {alias name: {base rule id: field}}
    aliases: dict[str, dict[str, str]] = {}
    for alias in rule.aliases:
        per_rule: dict[str, str] = {}
        for ref, field in alias.mapping.items():
            base_id, _ = _resolve(ref.reference, by_ref, correlation_refs, loaded)
            if base_id not in ref_ids:
                raise _Reject(f"alias {alias.alias!r} maps rule {ref.reference!r}, which is not referenced")
            per_rule[base_id] = str(field)
        aliases[alias.alias] = per_rule

    group_by = tuple(rule.group_by or ())
    value_names: tuple[str, ...] = ()
    if rule.type is SigmaCorrelationType.VALUE_COUNT:
        fieldref = cond.fieldref
        value_names = (fieldref,) if isinstance(fieldref, str) else tuple(fieldref or ())
        if not value_names:
            raise _Reject("value_count needs condition.field")

    def field_key(name: str, base_id: str, base: SigmaRule) -> str:
        field = aliases.get(name, {}).get(base_id, name)
        if pipeline_kind(base.logsource) == "syslog":  # same mapping the base rule's fields went through
            field = SYSLOG_FIELD_MAPPING.get(field.casefold(), field)
        return field.casefold()

    level = str(rule.level) if rule.level is not None else "medium"
    return CorrelationRuleInfo(
        rule_id=rid,
        title=rule.title,
        level=cast(Level, level if level in LEVELS else "medium"),
        status=str(rule.status) if rule.status is not None else "",
        tags=tuple(str(t) for t in rule.tags),
        type=cast(CorrelationType, ctype),
        group_by=group_by,
        timespan_s=rule.timespan.seconds,
        referenced_rule_ids=ref_ids,
        path=path,
        generate=rule.generate,
        op=cast(Op, cond.op.name.lower()),
        count=cond.count,
        group_fields=tuple(tuple(field_key(g, b_id, b) for g in group_by) for b_id, b in refs),
        value_fields=tuple(tuple(field_key(v, b_id, b) for v in value_names) for b_id, b in refs),
    )
