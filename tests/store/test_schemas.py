"""``schemas/clickhouse/*.sql`` (the published contract) and the packaged copies the store applies must
be the same files, byte for byte; and the packaged files must parse into versioned statements."""

from __future__ import annotations

from pathlib import Path

from citysoc.store.schema import migrations, split_statements

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "schemas" / "clickhouse"
PACKAGED = REPO / "services" / "citysoc" / "store" / "sql"


def test_published_and_packaged_schemas_are_identical() -> None:
    published = {p.name: p.read_bytes() for p in PUBLISHED.glob("*.sql")}
    packaged = {p.name: p.read_bytes() for p in PACKAGED.glob("*.sql")}
    assert published, "no schema files under schemas/clickhouse"
    assert sorted(published) == sorted(packaged)
    for name, data in published.items():
        assert data == packaged[name], f"{name} differs: copy services/citysoc/store/sql/{name} to schemas/"


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
