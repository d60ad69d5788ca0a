"""Harness for end-to-end tests: real citysoc processes, real sockets, real HTTP.

Processes are started with ``python -m citysoc.cli`` in their own session and stopped by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from citysoc.core.config import hash_token

REPO = Path(__file__).resolve().parents[2]
ADMIN = "admin-token-for-tests"
INGEST = {"hcm-dost": "ingest-token-dost", "q1": "ingest-token-q1"}


def free_port(udp_too: bool = False) -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if not udp_too:
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port")


def base_config(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "data_dir": str(data_dir),
        "log_level": "INFO",
        "store": {"dsn": f"chdb://{data_dir}/clickhouse"},
        "bus": {"kind": "memory"},
        "api": {"host": "127.0.0.1", "port": free_port()},
        "collector": {
            "instance": "test-collector",
            "host": "127.0.0.1",
            "http_port": free_port(),
            "syslog_udp_port": (p := free_port(udp_too=True)),
            "syslog_tcp_port": p,
            "max_message_bytes": 8192,
            "batch_linger_ms": 10,
        },
        "worker": {"metrics_port": free_port(), "metrics_host": "127.0.0.1", "poll_timeout_ms": 50},
        "detection": {"rules": [str(REPO / "detections")]},
        "auth": {"admin_tokens": [hash_token(ADMIN)]},
        "agencies": [
            {
                "code": code,
                "name": code,
                "ingest_tokens": [hash_token(tok)],
                "default_system": f"{code}-portal",
            }
            for code, tok in INGEST.items()
        ],
        "sources": [{"agency": "hcm-dost", "system": "mail", "cidrs": ["127.0.0.0/8"]}],
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


@dataclass
class Proc:
    name: str
    args: list[str]
    config: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "citysoc.cli", "--config", str(self.config), *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=REPO,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.name} exited early:\n{self.output()[-4000:]}")
            try:
                if httpx.get(url, timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready at {url}:\n{self.output()[-4000:]}")

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.popen is not None
            os.kill(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> int | None:
        if self.popen is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.popen.wait(5)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Embedded:
    cfg: dict[str, Any]
    config_path: Path
    proc: Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.cfg['api']['port']}"

    @property
    def syslog_port(self) -> int:
        port: int = self.cfg["collector"]["syslog_tcp_port"]
        return port


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def start_embedded(tmp_path: Path) -> Iterator[Callable[..., Embedded]]:
    procs: list[Proc] = []

    def start(cfg: dict[str, Any] | None = None) -> Embedded:
        cfg = cfg or base_config(tmp_path / "data")
        config_path = write_config(tmp_path / "citysoc.yaml", cfg)
        proc = Proc("citysoc run", ["run"], config_path, tmp_path / f"run-{len(procs)}.log").start()
        procs.append(proc)
        emb = Embedded(cfg, config_path, proc)
        proc.wait_http(emb.url + "/healthz")
        return emb

    yield start
    for p in procs:
        p.stop()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send_udp(port: int, lines: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for line in lines:
            s.sendto(line, ("127.0.0.1", port))


def send_tcp(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(payload)


def all_alerts(url: str, **params: Any) -> list[dict[str, Any]]:
    """Every alert matching ``params``, following the API's cursors."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        q = {"limit": 1000, **params, **({"cursor": cursor} if cursor else {})}
        r = httpx.get(f"{url}/api/v1/alerts", params=q, headers=auth(ADMIN), timeout=10)
        r.raise_for_status()
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def wait_alerts(
    url: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float, **params: Any
) -> list[dict[str, Any]]:
    """Poll the alerts API until ``predicate(items)`` holds; returns the items (raises on timeout)."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while True:
        items = all_alerts(url, **params)
        if predicate(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(
                f"alerts not as expected after {timeout}s: {items[:20]} ({len(items)} in all)"
            )
        time.sleep(0.05)


@pytest.fixture
def helpers() -> dict[str, Any]:
    return {
        "auth": auth,
        "send_udp": send_udp,
        "send_tcp": send_tcp,
        "wait_alerts": wait_alerts,
        "all_alerts": all_alerts,
        "ADMIN": ADMIN,
        "INGEST": INGEST,
        "base_config": base_config,
        "free_port": free_port,
        "Proc": Proc,
        "write_config": write_config,
    }
