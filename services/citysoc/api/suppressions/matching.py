"""Pure matching of alert groups against suppression rules (no I/O).

A rule matches a group when every criterion it sets equals the group's value: rule id, agency code,
system, and each of its key field values. A rule sets at least one of rule id, agency, system. Of
several matching rules the oldest (lowest id) is the one recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Criteria:
    id: int
    rule_id: str | None = None
    agency: str | None = None
    system: str | None = None
    key: Mapping[str, Any] = field(default_factory=dict)


def matches(c: Criteria, rule_id: str, agency: str, system: str, key: Mapping[str, Any]) -> bool:
    if c.rule_id is None and c.agency is None and c.system is None:
        return False  # never everything
    return (
        (c.rule_id is None or c.rule_id == rule_id)
        and (c.agency is None or c.agency == agency)
        and (c.system is None or c.system == system)
        and all(key.get(k) == v for k, v in c.key.items())
    )


def first_match(
    rules: Iterable[Criteria], rule_id: str, agency: str, system: str, key: Mapping[str, Any]
) -> int | None:
    found = [c.id for c in rules if matches(c, rule_id, agency, system, key)]
    return min(found) if found else None
