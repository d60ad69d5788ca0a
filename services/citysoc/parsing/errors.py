"""The one error type parsers raise: a dead-letter reason plus a human-readable detail."""

from __future__ import annotations

from citysoc.core.deadletter import Reason


class ParseError(ValueError):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail
