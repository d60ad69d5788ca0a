"""``citysoc store serve``: ClickHouse's HTTP interface over a chDB directory. FOR DEVELOPMENT AND TESTS ONLY.

No modern ClickHouse server can be installed on the project's machines, and only one process may
open a chDB directory. This process owns the directory and answers enough of ClickHouse's HTTP
interface for clickhouse-connect (``get_client(dsn="http://127.0.0.1:PORT")``), so several citysoc
processes can share one store exactly as they share a ClickHouse server in production.

Not a ClickHouse server: there is no authentication (credentials are ignored, so it binds to
127.0.0.1 by default), no TLS, no sessions (each request is its own session: ``SET`` does not carry
over), no external data, no response compression and no progress headers.

What it does, per request (``GET``/``POST /``):

* The query is the ``query`` URL parameter, then a newline, then the request body (ClickHouse's rule);
  a ``multipart/form-data`` body contributes ``query`` and ``param_*`` fields instead.
  ``Content-Encoding`` gzip/deflate/lz4/zstd request bodies are decompressed (clickhouse-connect
  compresses inserts).
* ``param_NAME`` parameters bind ``{NAME:Type}`` server-side; ``database`` becomes the default
  database (``USE``); ``default_format`` (else TabSeparated) applies when the query has no FORMAT;
  every other parameter is applied as a setting with ``SET`` except transport-only ones
  (``TRANSPORT_PARAMS``). ``GET`` runs with ``readonly = 2`` like ClickHouse.
* ``INSERT INTO t [(cols)] FORMAT F`` followed by data: the data is written to a temporary file and
  loaded with ``INSERT INTO t (cols) FROM INFILE ... FORMAT F`` (chDB cannot take binary data inline).
* Responses carry ``X-ClickHouse-Summary``, ``-Timezone``, ``-Format`` (statements with a result),
  ``-Query-Id`` and ``-Server-Display-Name``. Errors answer HTTP 500 with ClickHouse's exception text
  (``Code: N. DB::Exception: ...``) and ``X-ClickHouse-Exception-Code``, so clickhouse-connect raises
  ``DatabaseError`` with the message and code.
* ``/ping`` and ``/healthz`` answer ``Ok.``.

Every request opens its own chDB connection handle on the engine (cheap while the server's own
handle keeps the engine up), so per-request ``USE``/``SET`` state cannot leak between requests and
requests from several threads run side by side. SIGTERM/SIGINT stop accepting requests, let running
ones finish (up to ``--drain-seconds``) and close the engine.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import gzip
import importlib
import json
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import chdb

log = logging.getLogger("citysoc.store.serve")

# chdb ships type hints but leaves connect() unannotated.
_connect = cast(Callable[[str], Any], chdb.connect)

MAX_BODY_BYTES = 1 << 30

TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "user",
        "password",
        "quota_key",
        "role",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "http_zlib_compression_level",
        "add_http_cors_header",
    }
)

_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE = re.compile(r"Code:\s*(\d+)")
# An INSERT whose data follows its FORMAT clause. The target (table, column list, SETTINGS) must not
# contain quotes or SELECT, so a literal that happens to contain "FORMAT" is never mistaken for it.
# After the format name ClickHouse skips blanks and then one line break; the data starts there.
_INSERT = re.compile(
    rb"\A\s*INSERT\s+INTO\s+(?P<target>[^'\";]+?)\s+FORMAT\s+(?P<fmt>[A-Za-z][A-Za-z0-9_]*)"
    rb"[ \t\f]*(?:\r?\n)?",
    re.IGNORECASE,
)
_SETTINGS = re.compile(r"\sSETTINGS\s", re.IGNORECASE)
_SELECT = re.compile(r"\bSELECT\b", re.IGNORECASE)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*\Z", re.IGNORECASE)
_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_RESULT_STATEMENTS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK", "("}
)
_CONTENT_TYPES = {
    "Native": "application/octet-stream",
    "RowBinary": "application/octet-stream",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8",
}


class QueryError(Exception):
    """A failed request, as ClickHouse reports it: numeric code and ``Code: N. DB::Exception: ...`` text."""

    def __init__(self, code: int, text: str, status: int = 500) -> None:
        super().__init__(text)
        self.code, self.text, self.status = code, text, status

    @classmethod
    def make(cls, code: int, message: str, name: str, status: int = 500) -> QueryError:
        return cls(code, f"Code: {code}. DB::Exception: {message}. ({name})", status)

    @classmethod
    def from_engine(cls, ex: Exception) -> QueryError:
        text = str(ex).strip()
        i = text.find("Code: ")
        text = text[i:] if i >= 0 else f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)"
        m = _CODE.search(text)
        return cls(int(m.group(1)) if m else 1001, text)


@dataclass
class Result:
    body: bytes = b""
    fmt: str | None = None
    summary: dict[str, str] = field(default_factory=dict)


def _quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(value: str) -> str:
    return "`" + value.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _summary(res: Any, body_len: int, insert: bool = False) -> dict[str, str]:
    """The X-ClickHouse-Summary fields (ClickHouse sends numbers as strings)."""
    read_rows, read_bytes = int(res.rows_read()), int(res.bytes_read())
    written_rows, written_bytes = int(res.rows_written()), int(res.bytes_written())
    if insert and not written_rows:
        # chDB reports an INFILE insert's rows as read, not written; it writes what it reads.
        written_rows, written_bytes = read_rows, read_bytes
    return {
        "read_rows": str(read_rows),
        "read_bytes": str(read_bytes),
        "written_rows": str(written_rows),
        "written_bytes": str(written_bytes),
        "total_rows_to_read": "0",
        "result_rows": "0",
        "result_bytes": str(body_len),
        "elapsed_ns": str(int(float(res.elapsed()) * 1e9)),
    }


class Engine:
    """The chDB engine for one directory. Thread-safe: each ``execute`` uses its own handle."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        # This handle lives as long as the server: it keeps the engine (and the directory lock) up,
        # which also makes the per-request handles cheap to open.
        self._anchor = _connect(self.path)
        row = self._anchor.query("SELECT version(), timezone()", "TabSeparated").bytes().decode()
        self.version, self.timezone = row.strip().split("\t")

    def close(self) -> None:
        self._anchor.close()

    def execute(self, method: str, params: dict[str, str], body: bytes) -> Result:
        query = params.get("query", "").encode()
        sql = query + b"\n" + body if query and body else query or body
        if not sql.strip():
            raise QueryError.make(62, "Empty query", "SYNTAX_ERROR", 400)
        binds = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {
            k: v for k, v in params.items() if k not in TRANSPORT_PARAMS and not k.startswith("param_")
        }
        try:
            conn = _connect(self.path)
        except Exception as ex:
            raise QueryError.from_engine(ex) from ex
        try:
            if params.get("database"):
                conn.query(f"USE {_quote_identifier(params['database'])}", "TabSeparated")
            if method == "GET":
                conn.query("SET readonly = 2", "TabSeparated")
            for name, value in settings.items():
                if not _SETTING_NAME.match(name):
                    raise QueryError.make(115, f"Unknown setting '{name}'", "UNKNOWN_SETTING", 400)
                conn.query(f"SET {name} = {_quote_string(value)}", "TabSeparated")
            m = _INSERT.match(sql)
            if m and not _SELECT.search(m.group("target").decode("utf-8", "replace")):
                return self._insert_data(
                    conn, m.group("target").decode(), m.group("fmt").decode(), sql[m.end() :]
                )
            return self._query(conn, sql, binds, params.get("default_format") or "TabSeparated")
        except QueryError:
            raise
        except UnicodeDecodeError as ex:
            raise QueryError.make(36, f"query is not valid UTF-8: {ex}", "BAD_ARGUMENTS", 400) from ex
        except Exception as ex:
            raise QueryError.from_engine(ex) from ex
        finally:
            conn.close()

    def _query(self, conn: Any, sql: bytes, binds: dict[str, str], default_format: str) -> Result:
        text = sql.decode("utf-8")
        res = conn.query(text, default_format, params=binds)
        body = b"" if res is None else bytes(res.bytes())
        head = _COMMENTS.sub("", text, count=1)
        first = "(" if head.startswith("(") else head.split(None, 1)[0].upper() if head.strip() else ""
        trailing = _TRAILING_FORMAT.search(text)
        fmt = trailing.group(1) if trailing else default_format if first in _RESULT_STATEMENTS else None
        return Result(body, fmt, _summary(res, len(body)) if res is not None else {})

    def _insert_data(self, conn: Any, target: str, fmt: str, data: bytes) -> Result:
        settings = ""
        m = _SETTINGS.search(target)
        if m:
            # SETTINGS comes after FROM INFILE in the INSERT grammar.
            target, settings = target[: m.start()], " SETTINGS " + target[m.end() :]
        fd, tmp = tempfile.mkstemp(prefix="citysoc-serve-", suffix=".data")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            infile = f"FROM INFILE {_quote_string(tmp)} COMPRESSION 'none'"
            res = conn.query(f"INSERT INTO {target} {infile}{settings} FORMAT {fmt}", "TabSeparated")
        finally:
            Path(tmp).unlink(missing_ok=True)
        return Result(b"", None, _summary(res, 0, insert=True))


def decompress(data: bytes, encoding: str) -> bytes:
    """Decode a request body. clickhouse-connect compresses each insert block as its own frame/stream."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    try:
        return _decompress(data, encoding)
    except QueryError:
        raise
    except Exception as ex:  # each codec raises its own types
        raise QueryError.make(
            271, f"cannot decompress {encoding} body: {ex}", "CANNOT_DECOMPRESS", 400
        ) from ex


def _decompress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "deflate":
        return zlib.decompress(data)
    if encoding == "lz4":
        lz4 = importlib.import_module("lz4.frame")
        out = bytearray()
        while data:
            d = lz4.LZ4FrameDecompressor()
            out += d.decompress(data)
            data = d.unused_data
        return bytes(out)
    if encoding == "zstd":
        zstd = importlib.import_module(
            "compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd"
        )
        return bytes(zstd.decompress(data))  # handles concatenated frames
    raise QueryError.make(36, f"Unsupported Content-Encoding {encoding!r}", "BAD_ARGUMENTS", 400)


def parse_form(content_type: str, body: bytes) -> dict[str, str]:
    """Fields of a ``multipart/form-data`` body (clickhouse-connect's form-encoded query and params)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in msg.iter_parts():
        if part.get_filename():
            raise QueryError.make(48, "external data is not supported by store serve", "NOT_IMPLEMENTED", 400)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8")
    return fields


class Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block exit; drain() waits for requests

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.engine = engine
        self.display_name = socket.gethostname()
        self.closing = False
        self._active = 0
        self._idle = threading.Condition()

    def begin(self) -> bool:
        with self._idle:
            if self.closing:
                return False
            self._active += 1
            return True

    def end(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Refuse new requests and wait for running ones; True when none is left."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self.closing = True
            while self._active:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
            return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clickhouse-connect's connection pool expects
    timeout = 300  # seconds an idle keep-alive connection may hold a thread
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            body = self._read_body() if method == "POST" else b""
        except QueryError as ex:
            self.close_connection = True
            self._error(ex)
            return
        if url.path in ("/ping", "/healthz") or (url.path == "/" and method == "GET" and not url.query):
            self._send(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"})
            return
        if url.path != "/":
            self._error(QueryError.make(48, f"There is no handler {url.path}", "NOT_IMPLEMENTED", 404))
            return
        if not self.server.begin():
            self.close_connection = True
            self._error(QueryError.make(210, "store serve is shutting down", "NETWORK_ERROR", 503))
            return
        try:
            self._run(method, url.query, body)
        finally:
            self.server.end()

    def _run(self, method: str, query_string: str, body: bytes) -> None:
        started = time.monotonic()
        params: dict[str, str] = {}
        try:
            params = dict(parse_qsl(query_string, keep_blank_values=True, errors="strict"))
            body = decompress(body, self.headers.get("Content-Encoding", ""))
            content_type = self.headers.get("Content-Type", "")
            if content_type.lower().startswith("multipart/form-data"):
                params.update(parse_form(content_type, body))
                body = b""
            result = self.server.engine.execute(method, params, body)
        except QueryError as ex:
            log.info("query failed: %s", ex.text.splitlines()[0] if ex.text else ex.code)
            self._error(ex, params)
            return
        except Exception as ex:  # a bug here must answer the client, not drop the connection
            log.exception("unexpected error")
            self._error(QueryError.make(1001, f"{type(ex).__name__}: {ex}", "STD_EXCEPTION"), params)
            return
        headers = self._common_headers(params)
        headers["X-ClickHouse-Summary"] = json.dumps(result.summary)
        if result.fmt:
            headers["X-ClickHouse-Format"] = result.fmt
            headers["Content-Type"] = _CONTENT_TYPES.get(result.fmt, "text/plain; charset=UTF-8")
        else:
            headers["Content-Type"] = "text/plain; charset=UTF-8"
        self._send(200, result.body, headers)
        log.debug("query done in %.1f ms", (time.monotonic() - started) * 1000)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise QueryError.make(36, "malformed chunked body", "BAD_ARGUMENTS", 400) from None
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers, then the blank line
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise QueryError.make(36, "request body too large", "BAD_ARGUMENTS", 413)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(16)  # CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise QueryError.make(36, "request body too large", "BAD_ARGUMENTS", 413)
        return self.rfile.read(length) if length > 0 else b""

    def _common_headers(self, params: dict[str, str]) -> dict[str, str]:
        return {
            "X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Server-Display-Name": self.server.display_name,
            "X-ClickHouse-Timezone": params.get("session_timezone") or self.server.engine.timezone,
        }

    def _error(self, ex: QueryError, params: dict[str, str] | None = None) -> None:
        headers = self._common_headers(params or {})
        headers["X-ClickHouse-Exception-Code"] = str(ex.code)
        headers["Content-Type"] = "text/plain; charset=UTF-8"
        text = f"{ex.text} (version {self.server.engine.version})\n"
        self._send(ex.status, text.encode("utf-8", "replace"), headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT. Returns the process exit status."""
    ap = argparse.ArgumentParser(
        prog="citysoc store serve",
        description="ClickHouse HTTP interface over a chDB directory (development and tests only).",
    )
    ap.add_argument("--path", required=True, help="chDB data directory (created if missing)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8123, help="TCP port (default 8123; 0 picks a free one)")
    ap.add_argument("--drain-seconds", type=float, default=30.0, help="wait this long for running queries")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )

    path = Path(args.path).expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        engine = Engine(path)
    except Exception as ex:
        log.error("cannot open chDB directory %s: %s", path, ex)
        return 1
    try:
        server = Server((args.host, args.port), engine)
    except OSError as ex:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, ex)
        engine.close()
        return 1

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("store serve stopping (%s)", signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return, so it cannot run on the thread serving.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, stop)
    log.info("store serve listening on http://%s:%d", args.host, server.server_address[1])
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if not server.drain(args.drain_seconds):
            log.warning("store serve: queries still running after %.0f s; closing anyway", args.drain_seconds)
        engine.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("store serve stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
