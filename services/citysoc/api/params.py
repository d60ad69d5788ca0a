"""Parameter types shared by the database-backed routers (bounded, so no input reaches the database
that it would reject with a server error)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field

MAX_ID = 2_147_483_647
"""Ids are 32-bit on both databases."""

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdField = Annotated[int, Field(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=1000)]
NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL characters: refused at the edge (422), never a server error."""
Text = Annotated[str | None, Query(max_length=200, pattern=NO_NUL, description="case-insensitive substring")]
ShortQuery = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]


def _instant(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    if not 1970 <= v.year <= 2299:
        raise ValueError("time out of range (years 1970..2299)")
    return (v if v.tzinfo else v.replace(tzinfo=UTC)).astimezone(UTC)


Instant = Annotated[datetime | None, AfterValidator(_instant)]
"""A time filter: aware or naive (taken as UTC), normalised to UTC, within what both stores and both
databases compare without overflow (ClickHouse DateTime64 ends in 2299); outside it 422."""
