"""Wire models of the hunts API (``POST /api/v1/hunts``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from citysoc.core.alert import Level
from citysoc.hunt.service import DEFAULT_LIMIT, Hunt

MAX_RULES = 100
MAX_RULE_BYTES = 256 * 1024
RuleText = Annotated[str, Field(min_length=1, max_length=MAX_RULE_BYTES)]


class HuntIn(BaseModel):
    """A retro-hunt: Sigma rules (YAML text, one or several documents each) over stored events with
    ``since <= event time < until``, optionally of one agency."""

    model_config = ConfigDict(extra="forbid")

    rules: Annotated[list[RuleText], Field(min_length=1, max_length=MAX_RULES)]
    since: datetime
    until: datetime
    agency: str | None = None
    limit: Annotated[int, Field(ge=1, le=100_000)] = DEFAULT_LIMIT
    """Per rule: at most this many candidate events are read (oldest first)."""
    save: bool = False
    """Store the hits as alerts of kind ``hunt``."""

    @model_validator(mode="after")
    def _aware(self) -> HuntIn:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until need a time zone (e.g. 2026-11-01T00:00:00Z)")
        if not self.since < self.until:
            raise ValueError("since must be before until")
        return self


class RuleResultOut(BaseModel):
    rule_id: str
    title: str
    level: Level
    event_ids: list[str]
    matches: int
    decided_by_sql: int
    """Hits SQL decided alone; the streaming engine checked ``checked`` further candidates."""
    checked: int
    truncated: bool


class LoadErrorOut(BaseModel):
    rule: int | None
    """Index of the rule text in the request, when known."""
    rule_id: str | None
    title: str
    reason: str


class HuntOut(BaseModel):
    hunt_id: str
    since: datetime
    until: datetime
    agency: str | None
    rules: list[RuleResultOut]
    errors: list[LoadErrorOut]
    saved_alerts: int

    @classmethod
    def of(cls, hunt: Hunt, saved: int) -> HuntOut:
        return cls(
            hunt_id=hunt.hunt_id,
            since=hunt.since,
            until=hunt.until,
            agency=hunt.agency,
            rules=[
                RuleResultOut(
                    rule_id=r.rule.rule_id,
                    title=r.rule.title,
                    level=r.rule.level,
                    event_ids=r.event_ids,
                    matches=len(r.events),
                    decided_by_sql=r.decided_by_sql,
                    checked=r.checked,
                    truncated=r.truncated,
                )
                for r in hunt.rules
            ],
            errors=[error_out(e.path.name, e.rule_id, e.title, e.reason) for e in hunt.errors],
            saved_alerts=saved,
        )


def error_out(name: str, rule_id: str | None, title: str, reason: str) -> LoadErrorOut:
    """Rule texts are named ``rule-<index>.yml`` when loaded from a request."""
    stem = name.removeprefix("rule-").removesuffix(".yml")
    index = int(stem) if stem.isdigit() else None
    return LoadErrorOut(rule=index, rule_id=rule_id, title=title, reason=reason)
