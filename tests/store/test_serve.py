"""``store serve`` as a real clickhouse-connect client sees it over HTTP (a real subprocess, no mocks)."""

from __future__ import annotations

import gzip
import importlib.util
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("chdb") is None, reason="chdb is not installed")

clickhouse_connect = pytest.importorskip("clickhouse_connect")
from clickhouse_connect.driver.exceptions import DatabaseError  # noqa: E402

from citysoc.core.config import StoreSettings  # noqa: E402
from citysoc.core.event import Event, stable_id  # noqa: E402
from citysoc.store.base import StoreUnavailable  # noqa: E402
from citysoc.store.clickhouse import ClickHouseStore  # noqa: E402


def connect(url: str, **kw: Any) -> Any:
    kw.setdefault("autogenerate_session_id", False)
    return clickhouse_connect.get_client(dsn=url, **kw)


@pytest.fixture
def client(serve: Any) -> Iterator[Any]:
    c = connect(serve.url)
    yield c
    c.close()


@pytest.fixture
def table(client: Any) -> str:
    """A fresh table ``db.t (a UInt32, s String, m Map(String, String), lc LowCardinality(String))``."""
    db = f"s_{uuid.uuid4().hex[:12]}"
    client.command(f"CREATE DATABASE {db}")
    client.command(
        f"CREATE TABLE {db}.t (a UInt32, s String, m Map(String, String), lc LowCardinality(String))"
        " ENGINE = MergeTree ORDER BY a"
    )
    return f"{db}.t"


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as ex:
        return ex.code, ex.read(), dict(ex.headers)


def test_connect_handshake(client: Any) -> None:
    assert client.server_version and client.server_version[0].isdigit()
    assert client.query("SELECT 1 AS x, 'y' AS y").result_rows == [(1, "y")]
    assert client.ping()


def test_error_surfaces_as_database_error_with_message(client: Any) -> None:
    with pytest.raises(DatabaseError) as info:
        client.query("SELECT * FROM no_such_database.no_such_table")
    assert info.value.code == 81
    assert "UNKNOWN_DATABASE" in str(info.value) and "no_such_database" in str(info.value)


def test_bad_sql_does_not_kill_the_server(client: Any, serve: Any) -> None:
    for _ in range(3):
        with pytest.raises(DatabaseError) as info:
            client.query("SELEC 1")
        assert info.value.code == 62 and "Syntax error" in str(info.value)
    assert client.query("SELECT 41 + 1").result_rows == [(42,)]
    assert serve.proc.poll() is None


def test_parameters_are_bound_server_side(client: Any) -> None:
    tricky = 'it\'s \\ "quoted"\nnew line\ttab é ✓ \x00 nul'
    when = datetime(2026, 11, 1, 8, 0, 0, 123456, tzinfo=UTC)
    row = client.query(
        "SELECT {s:String}, {n:Int64}, {xs:Array(String)}, toUnixTimestamp64Micro({t:DateTime64(6, 'UTC')})",
        parameters={"s": tricky, "n": -(2**62), "xs": ["a", "b'c"], "t": when},
    ).result_rows[0]
    assert row == (tricky, -(2**62), ["a", "b'c"], 1793520000123456)


def test_form_encoded_parameters(serve: Any) -> None:
    c = connect(serve.url, form_encode_query_params=True)
    try:
        assert c.query("SELECT {s:String}", parameters={"s": "form ✓"}).result_rows == [("form ✓",)]
    finally:
        c.close()


def test_settings_are_applied_and_unknown_ones_rejected(client: Any) -> None:
    assert client.query("SELECT getSetting('max_threads')", settings={"max_threads": 3}).result_rows == [(3,)]
    with pytest.raises(DatabaseError) as info:
        client.query("SELECT 1", settings={"no_such_setting_xyz": 1})
    assert info.value.code == 115


def test_database_parameter_selects_the_default_database(client: Any, serve: Any, table: str) -> None:
    db = table.split(".")[0]
    c = connect(serve.url, database=db)
    try:
        assert c.query("SELECT currentDatabase()").result_rows == [(db,)]
        assert c.query("SELECT count() FROM t").result_rows == [(0,)]
    finally:
        c.close()


@pytest.mark.parametrize("compress", [False, "lz4", "zstd", "gzip"])
def test_native_insert_round_trips_bytes(serve: Any, table: str, compress: Any) -> None:
    c = connect(serve.url, compress=compress)
    try:
        rows = [[1, b"\x00\xff\xfe raw", {"k": "v"}, "x"], [2, b"", {}, compress or "none"]]
        summary = c.insert(table, rows, column_names=["a", "s", "m", "lc"])
        assert summary.written_rows == 2
        got = c.query(
            f"SELECT a, s, m, lc FROM {table} ORDER BY a", column_formats={"s": "bytes"}
        ).result_rows
        assert [list(r) for r in got] == rows
    finally:
        c.close()


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_raw_insert_csv(client: Any, table: str, compression: str | None) -> None:
    block = b"7,seven\n8,eight\n"
    # Compressed, the INSERT statement travels in the URL and the body is only data.
    client.raw_insert(
        table,
        ["a", "s"],
        insert_block=gzip.compress(block) if compression else block,
        fmt="CSV",
        compression=compression,
    )
    assert client.query(f"SELECT a, s FROM {table} ORDER BY a").result_rows == [(7, "seven"), (8, "eight")]


def test_commands(client: Any, table: str) -> None:
    assert client.command(f"SELECT count() FROM {table}") == 0
    assert client.command(f"SELECT count() FROM {table} WHERE a > 100") == 0
    client.command(f"INSERT INTO {table} (a, s) VALUES (1, 'one')")
    assert client.command(f"SELECT a, s FROM {table}") == ["1", "one"]
    assert client.command("SELECT 1 WHERE 0") == ""
    # LIMIT 0 is a metadata probe (FORMAT JSON) in clickhouse-connect.
    assert client.query(f"SELECT a, s FROM {table} LIMIT 0").column_names == ("a", "s")


def test_concurrent_inserts_from_threads(client: Any, table: str) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for batch in range(5):
                rows = [[t * 10_000 + batch * 100 + i, f"v{i}".encode(), {}, "c"] for i in range(100)]
                client.insert(table, rows, column_names=["a", "s", "m", "lc"])
                client.query(f"SELECT count() FROM {table}")
        except BaseException as ex:
            errors.append(ex)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors
    assert client.query(f"SELECT count(), uniqExact(a) FROM {table}").result_rows == [(4000, 4000)]


def test_plain_http_endpoints(serve: Any) -> None:
    assert get(serve.url + "/ping")[:2] == (200, b"Ok.\n")
    assert get(serve.url + "/healthz")[:2] == (200, b"Ok.\n")
    assert get(serve.url + "/")[:2] == (200, b"Ok.\n")
    status, body, headers = get(serve.url + "/?query=SELECT%201%20AS%20x")
    assert (status, body) == (200, b"1\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated" and "X-ClickHouse-Timezone" in headers
    # GET is read-only, as on ClickHouse.
    status, body, headers = get(serve.url + "/?query=CREATE%20DATABASE%20nope_get")
    assert status == 500 and headers["X-ClickHouse-Exception-Code"] == "164" and b"READONLY" in body
    assert get(serve.url + "/nowhere")[0] == 404


def test_sigterm_stops_cleanly(serve_factory: Callable[..., Any], tmp_path: Path) -> None:
    s = serve_factory(tmp_path / "own")
    c = connect(s.url)
    c.command("CREATE TABLE default.keep (a UInt8) ENGINE = MergeTree ORDER BY a")
    c.insert("default.keep", [[1]], column_names=["a"])
    c.close()
    assert s.stop() == 0
    log = s.log_text()
    assert f"store serve listening on http://127.0.0.1:{s.port}" in log and "store serve stopped" in log
    # The data is on disk: a new server on the same directory sees it.
    s2 = serve_factory(tmp_path / "own")
    c2 = connect(s2.url)
    assert c2.query("SELECT a FROM default.keep").result_rows == [(1,)]
    c2.close()


def test_second_server_on_the_same_directory_refuses(serve: Any) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "citysoc.store.serve", "--path", str(serve.path), "--port", "0"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert b"Cannot lock file" in done.stderr
    assert get(serve.url + "/ping")[:2] == (200, b"Ok.\n")


def test_store_unavailable_while_the_server_is_down_and_recovers(
    serve_factory: Callable[..., Any], tmp_path: Path, unused_port: int
) -> None:
    port = unused_port
    store = ClickHouseStore(StoreSettings(dsn=f"http://127.0.0.1:{port}", database="citysoc"))
    try:
        # Nothing listens yet: the store can be built, calls raise StoreUnavailable, ping says False.
        assert store.ping() is False
        with pytest.raises(StoreUnavailable):
            store.migrate()
        s = serve_factory(tmp_path / "data", port)
        store.migrate()
        store.insert_events([_event(1)])
        s.stop()
        with pytest.raises(StoreUnavailable):
            store.insert_events([_event(2)])
        assert store.ping() is False
        serve_factory(tmp_path / "data", port)
        _retry(lambda: store.insert_events([_event(2)]))
        assert store.counts().distinct_events == 2
    finally:
        store.close()


def test_chdb_directory_owned_by_serve_is_unavailable_in_process(serve: Any) -> None:
    store = ClickHouseStore(StoreSettings(dsn=f"chdb://{serve.path}", database="citysoc"))
    try:
        with pytest.raises(StoreUnavailable):
            store.migrate()
        assert store.ping() is False
    finally:
        store.close()


def _event(n: int) -> Event:
    t = datetime(2026, 11, 1, tzinfo=UTC)
    return Event(stable_id("serve", n), t, t, "police", "cad", "h", "10.0.0.1", "tcp", "rfc5424", b"x")


def _retry(fn: Callable[[], None], attempts: int = 5) -> None:
    """What callers do on StoreUnavailable: back off and retry (a pooled connection may be stale)."""
    for i in range(attempts):
        try:
            fn()
            return
        except StoreUnavailable:
            if i == attempts - 1:
                raise
            time.sleep(0.2)
