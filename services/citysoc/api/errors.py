"""Errors the database-backed services raise; each is an HTTP problem (RFC 9457) with its status."""

from __future__ import annotations

from fastapi import HTTPException


class NotFound(HTTPException):
    """Absent, or outside the caller's agency scope (the two are indistinguishable on purpose)."""

    def __init__(self, what: str) -> None:
        super().__init__(404, f"no such {what}")


class Forbidden(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


class Conflict(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(409, detail)


class Invalid(HTTPException):
    """Well-formed but inconsistent with stored state (e.g. an unknown parent id)."""

    def __init__(self, detail: str) -> None:
        super().__init__(422, detail)


class Unauthorized(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})
