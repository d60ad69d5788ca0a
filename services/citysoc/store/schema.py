"""The versioned ClickHouse schema: ``citysoc/store/sql/NNN_name.sql``, applied by ``migrate()``.

``schemas/clickhouse/`` at the repository root is a symlink to this directory (the published
contract). The file format is described in ``001_init.sql``.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import NamedTuple

from citysoc.store.base import StoreError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged schema versions (``citysoc/store/sql/NNN_name.sql``), oldest first."""
    found: dict[int, Migration] = {}
    for entry in resources.files("citysoc.store").joinpath("sql").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        version = int(entry.name.split("_", 1)[0])
        if version in found:
            raise StoreError(f"two schema files for version {version}: {found[version].name}, {entry.name}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def split_statements(sql: str, database: str) -> list[str]:
    """Statements of a schema file (format described in its header), with ``{db}`` substituted."""
    out: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.lstrip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(current).strip().removesuffix(";").strip()
            if stmt:
                out.append(stmt.replace("{db}", quote_identifier(database)))
            current = []
    if "\n".join(current).strip():
        raise StoreError("schema file ends with a statement that has no ';'")
    return out


def quote_identifier(name: str) -> str:
    """Back-quote a validated plain identifier (``ValueError`` otherwise)."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f"`{name}`"
