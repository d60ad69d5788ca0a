"""Errors the database-backed services raise; each is an HTTP problem (RFC 9457) with its status."""

from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


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


async def delete_unreferenced(session: AsyncSession, row: object, what: str) -> None:
    """Delete ``row`` now; a row other records still reference (foreign keys ``RESTRICT``: incidents,
    tasks...) is refused with 409 and the session rolled back, never a server error."""
    await session.delete(row)
    try:
        await session.flush()
    except IntegrityError as e:
        await session.rollback()
        raise Conflict(f"{what} is still referenced by other records (e.g. incidents or tasks)") from e
