"""Declarative base and column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, the same out. SQLite keeps no zone: values are stored as
    naive UTC there and given their zone back when read; PostgreSQL uses ``timestamptz``."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(enum: type[StrEnum]) -> sa.Enum:
    """A string column restricted to ``enum``'s values (VARCHAR + CHECK; no native type, so the
    same migration serves both databases)."""
    return sa.Enum(
        enum,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        name=enum.__name__.lower(),
        validate_strings=True,
    )


def now() -> datetime:
    return datetime.now(UTC)


def as_dict(row: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """A JSON-ready snapshot of ``fields`` of an ORM row (for audit before/after)."""
    out: dict[str, Any] = {}
    for f in fields:
        v = getattr(row, f)
        if isinstance(v, datetime):
            v = v.astimezone(UTC).isoformat()
        elif isinstance(v, StrEnum):
            v = v.value
        elif hasattr(v, "isoformat"):
            v = v.isoformat()
        out[f] = v
    return out
