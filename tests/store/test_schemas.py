"""``schemas/clickhouse`` (the published contract) is the very directory the store applies (a symlink
to the packaged SQL, so the two cannot drift); the files must parse into versioned statements."""

from __future__ import annotations

from pathlib import Path

from citysoc.store.schema import migrations, split_statements

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "schemas" / "clickhouse"
PACKAGED = REPO / "services" / "citysoc" / "store" / "sql"


def test_published_schema_is_the_packaged_one() -> None:
    assert PUBLISHED.resolve() == PACKAGED.resolve()
    names = sorted(p.stem for p in PUBLISHED.glob("*.sql"))
    assert names and [n.split("_", 1)[0] for n in names] == [f"{m.version:03d}" for m in migrations()]


def test_migrations_are_versioned_and_parse() -> None:
    ms = migrations()
    assert [m.version for m in ms] == list(range(1, len(ms) + 1))
    statements = split_statements(ms[0].sql, "citysoc")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `citysoc`"
    tables = [s.split("(")[0].split()[-1] for s in statements[1:]]
    assert tables == [
        "`citysoc`.schema_migrations",
        "`citysoc`.events",
        "`citysoc`.alerts",
        "`citysoc`.dead_letters",
        "`citysoc`.watermarks",
    ]
    assert all("IF NOT EXISTS" in s and "{db}" not in s and not s.endswith(";") for s in statements)
