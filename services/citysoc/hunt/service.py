"""Retro-hunts: run Sigma rules over stored events, with the streaming engine's semantics.

Contract (:func:`run_hunt`):

* Rules are loaded by the streaming engine's loader (:class:`citysoc.detection.engine.Engine`: same
  pipelines, filters, ids and load errors) and translated from their compiled trees
  (:mod:`citysoc.hunt.sql`). Each rule runs as one ``Store.search_events``; on ClickHouse the SQL
  decides every row it can (``sure``) and the streaming engine checks the remaining candidates on the
  stored events, so the event ids of a rule are exactly those the engine matches among the stored
  events with ``since <= event_time < until`` (and of ``agency`` when given). The in-memory store
  evaluates the engine directly.
* Per rule at most ``limit`` candidate rows are read, oldest event time first; ``truncated`` says
  when that limit was reached (later matches were not looked at).
* :func:`save_findings` stores one alert per (rule, event) with ``kind="hunt"``: the alert id is
  derived from rule, event and the word ``hunt``, so re-running a hunt does not duplicate alerts and a
  finding never overwrites the stream alert of the same rule and event. ``extra`` names the hunt
  (id, window, agency); matched fields are the engine's, as in stream alerts.
* Errors: a rule file that does not load is reported in ``Hunt.errors`` (the others still run);
  ``StoreError``/``StoreUnavailable`` from the store propagate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from citysoc.core.alert import Alert
from citysoc.core.event import Event, stable_id, utc
from citysoc.detection.engine import CompiledRule, Engine, LoadError, RuleInfo
from citysoc.hunt.sql import Translator
from citysoc.store.base import EventSearch, FoundEvent, Store, StoreError

DEFAULT_LIMIT = 10_000
_FETCH_BATCH = 1000


def compiled_rules(engine: Engine) -> tuple[CompiledRule, ...]:
    """The engine's compiled rules, in load order (the accessor the engine does not offer itself)."""
    return engine._compiled


def hunt_alert_id(rule_id: str, event_id: str) -> str:
    return stable_id("hunt", rule_id, event_id)


@dataclass(frozen=True, slots=True)
class RuleHunt:
    """One rule's result."""

    rule: RuleInfo
    events: tuple[FoundEvent, ...]
    """Matching events, oldest event time first (``sure`` True for all: checked ones are included)."""
    decided_by_sql: int
    """How many of ``events`` SQL decided alone."""
    checked: int
    """Candidates SQL could not decide, checked by the streaming engine (matching or not)."""
    truncated: bool
    sql: str = ""
    """The SQL condition (upper bound) run for the rule, for operators; '' on the in-memory store."""

    @property
    def event_ids(self) -> list[str]:
        return [e.event_id for e in self.events]


@dataclass(frozen=True, slots=True)
class Hunt:
    hunt_id: str
    since: datetime
    until: datetime
    agency: str | None
    rules: tuple[RuleHunt, ...]
    errors: tuple[LoadError, ...] = ()
    saved_alerts: tuple[str, ...] = field(default=())


class HuntError(ValueError):
    """The hunt request itself is wrong (empty window, no rule loaded)."""


def load_engine(paths: Sequence[Path]) -> Engine:
    return Engine.load(list(paths))


def run_hunt(
    store: Store,
    engine: Engine,
    since: datetime,
    until: datetime,
    *,
    agency: str | None = None,
    limit: int = DEFAULT_LIMIT,
    started_at: datetime,
) -> Hunt:
    """Hunt every rule of ``engine`` over ``store``; see the module contract."""
    since, until = utc(since), utc(until)
    if not since < until:
        raise HuntError(f"empty time window: since {since.isoformat()} is not before {until.isoformat()}")
    if limit < 1:
        raise HuntError("limit must be at least 1")
    rules = compiled_rules(engine)
    if not rules:
        reasons = "; ".join(f"{e.path}: {e.reason}" for e in engine.errors[:5])
        raise HuntError(f"no rule could be loaded{': ' + reasons if reasons else ''}")
    hunt_id = stable_id(
        "hunt-run",
        since.isoformat(),
        until.isoformat(),
        agency or "",
        utc(started_at).isoformat(),
        *(r.info.rule_id for r in rules),
    )
    results = tuple(_hunt_rule(store, engine, r, since, until, agency, limit) for r in rules)
    return Hunt(hunt_id, since, until, agency, results, tuple(engine.errors))


def _matches(engine: Engine, rule_id: str, event: Event) -> bool:
    return any(h.rule.rule_id == rule_id for h in engine.match(event))


def _search(
    store: Store,
    engine: Engine,
    rule: CompiledRule,
    since: datetime,
    until: datetime,
    agency: str | None,
    limit: int,
    regex_in_sql: bool,
) -> tuple[list[FoundEvent], str]:
    sql = Translator(regex_in_sql=regex_in_sql).rule(rule)
    rid = rule.info.rule_id
    search = EventSearch(
        test=lambda e: _matches(engine, rid, e),
        since=since,
        until=until,
        agency=agency,
        where=sql.where,
        sure=sql.sure,
        aliases=sql.aliases,
        params=sql.params,
        limit=limit,
    )
    return store.search_events(search), sql.where


def _hunt_rule(
    store: Store,
    engine: Engine,
    rule: CompiledRule,
    since: datetime,
    until: datetime,
    agency: str | None,
    limit: int,
) -> RuleHunt:
    try:
        found, where = _search(store, engine, rule, since, until, agency, limit, True)
    except StoreError as e:
        # A pattern RE2 refuses although it passed the syntax check: leave regexes to the engine.
        if "re2" not in str(e).lower() and "regular expression" not in str(e).lower():
            raise
        found, where = _search(store, engine, rule, since, until, agency, limit, False)
    unsure = [f.event_id for f in found if not f.sure]
    confirmed: set[str] = set()
    for start in range(0, len(unsure), _FETCH_BATCH):
        for event in store.get_events(unsure[start : start + _FETCH_BATCH]):
            if _matches(engine, rule.info.rule_id, event):
                confirmed.add(event.event_id)
    hits = tuple(
        FoundEvent(f.event_id, f.event_time, f.agency, f.system, f.host, True)
        for f in found
        if f.sure or f.event_id in confirmed
    )
    return RuleHunt(
        rule=rule.info,
        events=hits,
        decided_by_sql=sum(1 for f in found if f.sure),
        checked=len(unsure),
        truncated=len(found) >= limit,
        sql=where,
    )


def save_findings(store: Store, engine: Engine, hunt: Hunt, detected_at: datetime) -> list[Alert]:
    """Store the hunt's hits as alerts of kind ``hunt`` (see the module contract); returns them."""
    alerts: list[Alert] = []
    for result in hunt.rules:
        ids = result.event_ids
        for start in range(0, len(ids), _FETCH_BATCH):
            for event in store.get_events(ids[start : start + _FETCH_BATCH]):
                for hit in engine.match(event):
                    if hit.rule.rule_id == result.rule.rule_id:
                        alerts.append(_alert(event, hit.rule, hit.matched_fields, hunt, detected_at))
    for start in range(0, len(alerts), _FETCH_BATCH):
        store.insert_alerts(alerts[start : start + _FETCH_BATCH])
    return alerts


def _alert(event: Event, rule: RuleInfo, matched: dict[str, str], hunt: Hunt, detected_at: datetime) -> Alert:
    return Alert(
        alert_id=hunt_alert_id(rule.rule_id, event.event_id),
        rule_id=rule.rule_id,
        title=rule.title,
        level=rule.level,
        rule_status=rule.status,
        tags=rule.tags,
        agency=event.agency,
        system=event.system,
        host=event.source_host,
        event_ids=(event.event_id,),
        matched_fields=dict(matched),
        time=event.event_time,
        detected_at=detected_at,
        kind="hunt",
        extra={
            "hunt_id": hunt.hunt_id,
            "since": hunt.since.isoformat(),
            "until": hunt.until.isoformat(),
            "agency": hunt.agency,
        },
    )
