"""The audit chain's hash: pure, no I/O.

``hash = SHA-256(canonical JSON of [prev_hash, seq, at, actor, action, object_type, object_id,
agency, before, after])``; canonical JSON sorts keys and has no whitespace, so the hash is the same
whichever database stored the row. Each row covers the previous row's hash: altering, removing or
reordering any stored row breaks every later link, and verification names the first row that no
longer matches."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Link:
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    agency: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str = ""


def link_hash(link: Link) -> str:
    body = [
        link.prev_hash,
        link.seq,
        link.at.astimezone(UTC).isoformat(),
        link.actor,
        link.action,
        link.object_type,
        link.object_id,
        link.agency,
        link.before,
        link.after,
    ]
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    problem: str


class ChainChecker:
    """Checks links fed in ``seq`` order against each other, then against the chain head."""

    def __init__(self) -> None:
        self.prev, self.expected_seq, self.checked = GENESIS, 1, 0
        self.problems: list[Problem] = []

    def feed(self, link: Link) -> None:
        self.checked += 1
        if link.seq != self.expected_seq:
            self.problems.append(Problem(link.seq, f"sequence gap: expected {self.expected_seq}"))
        if link.prev_hash != self.prev:
            self.problems.append(Problem(link.seq, "prev_hash does not match the previous row's hash"))
        if link_hash(link) != link.hash:
            self.problems.append(Problem(link.seq, "content does not match its hash (row altered)"))
        self.prev, self.expected_seq = link.hash, link.seq + 1

    def finish(self, head_seq: int, head_hash: str) -> list[Problem]:
        if self.expected_seq - 1 != head_seq or self.prev != head_hash:
            self.problems.append(
                Problem(head_seq, "chain head does not match the last row (rows removed or added)")
            )
        return self.problems


def verify_links(links: Iterable[Link], head_seq: int, head_hash: str) -> tuple[int, list[Problem]]:
    """Check links in ``seq`` order; returns how many were checked and every problem found (empty:
    the chain is intact)."""
    checker = ChainChecker()
    for link in links:
        checker.feed(link)
    return checker.checked, checker.finish(head_seq, head_hash)
