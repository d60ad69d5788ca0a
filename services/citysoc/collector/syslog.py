"""Syslog listeners: UDP, TCP and TLS (RFC 5426, RFC 6587, RFC 5425).

TCP and TLS accept both framings on the same port, decided per message: a message starting with a
digit is octet-counted (``LEN SP MSG``), anything else is LF-terminated. A message longer than the
limit is not dropped: its head is kept and it becomes an ``oversize`` dead letter, and the stream
resynchronises at the next frame. Listeners only frame bytes; parsing happens in the pipeline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from citysoc.collector.batcher import Batcher
from citysoc.collector.frames import Frame
from citysoc.core import metrics
from citysoc.core.event import Transport

log = logging.getLogger(__name__)
_conn_ids = itertools.count()


def _now() -> datetime:
    return datetime.now(UTC)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, batcher: Batcher, max_bytes: int, name: str) -> None:
        self._batcher = batcher
        self._max = max_bytes
        self._conn = name
        self._seq = itertools.count()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        truncated = len(data) > self._max
        # One datagram may carry several LF-separated messages (some relays batch them).
        parts = [data[: self._max]] if truncated else [p for p in data.split(b"\n") if p.strip()] or [data]
        for part in parts:
            frame = Frame(
                part, "syslog", "udp", str(addr[0]), self._conn, next(self._seq), _now(), truncated=truncated
            )
            self._batcher.submit_nowait(frame)


async def start_udp(batcher: Batcher, host: str, port: int, max_bytes: int) -> asyncio.DatagramTransport:
    loop = asyncio.get_running_loop()
    name = f"udp:{port}:{time.time_ns()}"
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _UdpProtocol(batcher, max_bytes, name), local_addr=(host, port)
    )
    return transport


async def _discard(reader: asyncio.StreamReader, n: int) -> None:
    while n > 0:
        chunk = await reader.read(min(n, 65536))
        if not chunk:
            return
        n -= len(chunk)


async def _read_lf(reader: asyncio.StreamReader, prefix: bytes, max_bytes: int) -> tuple[bytes, bool] | None:
    """One LF-terminated message (without the LF), and whether it was truncated; None at EOF."""
    try:
        line = await reader.readuntil(b"\n")
        data = prefix + line[:-1]
        if len(data) > max_bytes:
            return data[:max_bytes], True
        return data, False
    except asyncio.IncompleteReadError as e:
        data = prefix + e.partial
        return (data[:max_bytes], len(data) > max_bytes) if data.strip() else None
    except asyncio.LimitOverrunError as e:
        head = prefix + await reader.readexactly(e.consumed)
        while True:  # skip the rest of the oversize line
            try:
                await reader.readuntil(b"\n")
                break
            except asyncio.LimitOverrunError as e2:
                await reader.readexactly(e2.consumed)
            except asyncio.IncompleteReadError:
                break
        return head[:max_bytes], True


async def _read_frame(reader: asyncio.StreamReader, max_bytes: int) -> tuple[bytes, bool] | None:
    first = await reader.read(1)
    if not first:
        return None
    if first == b"\n":
        return b"", False
    if not first.isdigit():
        return await _read_lf(reader, first, max_bytes)
    digits = first
    while len(digits) < 10:
        c = await reader.read(1)
        if not c:
            return digits, False
        if c == b" ":
            n = int(digits)
            if n <= max_bytes:
                return await reader.readexactly(n), False
            head = await reader.readexactly(max_bytes)
            await _discard(reader, n - max_bytes)
            return head, True
        digits += c
        if not c.isdigit():
            break
    # Digits not followed by a space: not octet counting after all; read it as an LF line.
    return await _read_lf(reader, digits, max_bytes)


CertAgency = Callable[[Sequence[str]], str | None]
"""Maps a client certificate's names (subject CN, DNS SANs) to the agency that owns it, or None."""


def cert_names(peercert: Mapping[str, Any] | None) -> list[str]:
    """Subject common names and DNS subject-alternative names of a verified peer certificate."""
    if not peercert:
        return []
    names = [v for rdn in peercert.get("subject", ()) for k, v in rdn if k == "commonName"]
    names += [v for k, v in peercert.get("subjectAltName", ()) if k == "DNS"]
    return names


async def _handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    batcher: Batcher,
    transport: Transport,
    max_bytes: int,
    cert_agency: CertAgency | None = None,
) -> None:
    peer = writer.get_extra_info("peername") or ("", 0)
    conn = f"{transport}:{peer[0]}:{peer[1]}:{next(_conn_ids)}:{time.time_ns()}"
    seq = 0
    agency: str | None = None
    if cert_agency is not None:
        names = cert_names(writer.get_extra_info("peercert"))
        agency = cert_agency(names)
        if agency is None:  # a valid certificate, but no agency owns it: refuse the connection
            log.warning(
                "tls client %s with certificate names %s belongs to no agency; closed", peer[0], names
            )
            metrics.COLLECTOR_DROPPED.labels(transport, "unknown_client_certificate").inc()
            writer.close()
            return
    try:
        while True:
            got = await _read_frame(reader, max_bytes)
            if got is None:
                break
            data, truncated = got
            if not data.strip() and not truncated:
                continue
            await batcher.submit(
                Frame(data, "syslog", transport, str(peer[0]), conn, seq, _now(), agency, truncated)
            )
            seq += 1
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError) as e:
        log.info("%s connection from %s ended: %s", transport, peer[0], e)
    finally:
        writer.close()


async def start_stream(
    batcher: Batcher,
    host: str,
    port: int,
    max_bytes: int,
    ssl_context: ssl.SSLContext | None = None,
    cert_agency: CertAgency | None = None,
) -> asyncio.Server:
    """TCP (or TLS with ``ssl_context``) listener. With ``cert_agency``, the TLS context must require
    client certificates; each connection then belongs to the agency its certificate maps to."""
    transport: Transport = "tls" if ssl_context else "tcp"
    # The reader limit bounds per-connection memory; longer lines go through the oversize path.
    return await asyncio.start_server(
        lambda r, w: _handle(r, w, batcher, transport, max_bytes, cert_agency),
        host,
        port,
        limit=max_bytes + 1,
        ssl=ssl_context,
    )
