"""Keyset (cursor) pagination with a chosen sort, shared by the database-backed list endpoints.

A sort is ``field`` (ascending) or ``-field`` (descending), always tie-broken by the row id in the
same direction, so pages never overlap or skip rows. The cursor is opaque: base64 of the sort it was
made for, the last row's sort value and id. A cursor from another sort is rejected (400).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

import orjson
import sqlalchemy as sa
from fastapi import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

ValueKind = Literal["int", "str", "datetime", "date"]


@dataclass(frozen=True, slots=True)
class SortKey:
    expr: ColumnElement[Any] | QueryableAttribute[Any]
    kind: ValueKind


class HasId(Protocol):
    @property
    def id(self) -> int: ...


def _dump(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime | date) else v


def _load(v: Any, kind: ValueKind) -> Any:
    if kind == "datetime":
        return datetime.fromisoformat(v)
    if kind == "date":
        return date.fromisoformat(v)
    if kind == "int" and not (isinstance(v, int) and not isinstance(v, bool)):
        raise ValueError("bad int")
    if kind == "str" and not isinstance(v, str):
        raise ValueError("bad str")
    return v


def encode_cursor(sort: str, value: Any, row_id: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([sort, _dump(value), row_id])).decode()


def decode_cursor(cursor: str, sort: str, kind: ValueKind) -> tuple[Any, int]:
    try:
        got_sort, value, row_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if got_sort != sort or not isinstance(row_id, int):
            raise ValueError("cursor made for another sort")
        return _load(value, kind), row_id
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError) as e:
        raise HTTPException(400, "invalid cursor (or made for another sort)") from e


async def paginate[T: HasId](
    session: AsyncSession,
    stmt: sa.Select[T],
    *,
    id_col: ColumnElement[int] | QueryableAttribute[int],
    keys: Mapping[str, SortKey],
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[T], str | None]:
    """One page of ``stmt`` (a select of one ORM entity) sorted by ``sort`` (a key of ``keys``,
    optionally prefixed with ``-``); returns the rows and the cursor of the next page, if any."""
    desc = sort.startswith("-")
    name = sort.removeprefix("-")
    if name not in keys:
        raise HTTPException(400, f"unknown sort {sort!r}; one of {sorted(keys)}")
    key = keys[name]
    if cursor:
        value, last_id = decode_cursor(cursor, sort, key.kind)
        if desc:
            stmt = stmt.where(sa.or_(key.expr < value, sa.and_(key.expr == value, id_col < last_id)))
        else:
            stmt = stmt.where(sa.or_(key.expr > value, sa.and_(key.expr == value, id_col > last_id)))
    order = (key.expr.desc(), id_col.desc()) if desc else (key.expr.asc(), id_col.asc())
    rows = (await session.execute(stmt.add_columns(key.expr).order_by(*order).limit(limit + 1))).all()
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit and page:
        last = page[-1]
        next_cursor = encode_cursor(sort, last[1], last[0].id)
    return [r[0] for r in page], next_cursor
