"""Store test fixtures: a real ``store serve`` subprocess and one store fixture per implementation.

The chDB engine allows one data directory per process at a time: every chDB store made here is
closed at the end of its test, so the next test (or another suite) can open a different directory.
"""

from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from citysoc.core.config import StoreSettings
from citysoc.store.base import Store
from citysoc.store.clickhouse import ClickHouseStore
from citysoc.store.memory import MemoryStore

HAVE_CHDB = importlib.util.find_spec("chdb") is not None
needs_chdb = pytest.mark.skipif(not HAVE_CHDB, reason="chdb is not installed")


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    """A TCP port nothing listens on right now."""
    return free_port()


@dataclass
class Serve:
    """A running ``python -m citysoc.store.serve`` subprocess."""

    url: str
    port: int
    path: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM by PID, then wait; SIGKILL only if it does not exit in time. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)


def spawn_serve(path: Path, log: Path, port: int | None = None) -> subprocess.Popen[bytes]:
    port = port or free_port()
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "citysoc.store.serve", "--path", str(path), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_serve(path: Path, log: Path, port: int | None = None, timeout: float = 60) -> Serve:
    """Start ``store serve`` (on ``port``, else a free one) and wait until ``/ping`` answers ``Ok.``."""
    for _attempt in range(1 if port else 3):  # another process may take the free port before the child
        port = port or free_port()
        proc = spawn_serve(path, log, port)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/ping", timeout=2) as r:
                    if r.read() == b"Ok.\n":
                        return Serve(url, port, path, log, proc)
            except OSError:
                time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
            break
        if "cannot listen" not in log.read_text(errors="replace"):
            break
        port = None
    pytest.fail(f"store serve did not start:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One ``store serve`` for the session; tests isolate themselves by database name."""
    if not HAVE_CHDB:
        pytest.skip("chdb is not installed")
    base = tmp_path_factory.mktemp("serve")
    s = start_serve(base / "data", base / "serve.log")
    yield s
    s.stop()


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    """Starts extra ``store serve`` processes: ``start(path, port=None)``; stops any left running."""
    if not HAVE_CHDB:
        pytest.skip("chdb is not installed")
    started: list[Serve] = []

    def start(path: Path, port: int | None = None) -> Serve:
        s = start_serve(path, tmp_path / f"serve-{len(started)}.log", port)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


STORE_KINDS = [
    "memory",
    pytest.param("chdb", marks=needs_chdb),
    pytest.param("http", marks=needs_chdb),
]


@pytest.fixture(params=STORE_KINDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes unmigrated stores of one kind; each new store has empty tables. All are closed after."""
    kind: str = request.param
    made: list[Store] = []

    def make() -> Store:
        s: Store
        if kind == "memory":
            s = MemoryStore()
        elif kind == "chdb":
            # One engine directory per test; stores made in the same test share it.
            db = f"t_{uuid.uuid4().hex[:12]}"
            s = ClickHouseStore(StoreSettings(dsn=f"chdb://{tmp_path / 'chdb'}", database=db))
        else:
            srv: Serve = request.getfixturevalue("serve")
            s = ClickHouseStore(StoreSettings(dsn=srv.url, database=f"t_{uuid.uuid4().hex[:12]}"))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    """A migrated, empty store of each kind."""
    s = store_factory()
    s.migrate()
    return s
