"""Syslog listeners over real sockets: framing, oversize resync, UDP, TLS and backpressure.

The listeners feed the real batcher and pipeline, whose sink publishes on the in-process bus (the
Kafka twin); the tests read what arrived from the bus like the worker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from citysoc.bus.memory import MemoryBus
from citysoc.collector.attribution import SourceRegistry
from citysoc.collector.batcher import Batcher
from citysoc.collector.pipeline import PipelineContext
from citysoc.collector.sinks import BusSink
from citysoc.collector.syslog import start_stream, start_udp
from citysoc.core.config import BusSettings, Settings
from citysoc.core.deadletter import DeadLetter
from citysoc.core.event import Event

MAX = 1024
BUS = BusSettings(partitions=1, max_pending=10_000)


@dataclass
class Rig:
    bus: MemoryBus
    batcher: Batcher
    task: asyncio.Task[None]

    async def collect(self, n: int, within_s: float = 10) -> list[Event | DeadLetter]:
        consumer = self.bus.consumer("t", [BUS.topic("events.raw"), BUS.topic("events.dead")])
        await consumer.start()
        out: list[Event | DeadLetter] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while len(out) < n and loop.time() < deadline:
            msgs = await consumer.poll(1000, 0.1)
            for m in msgs:
                out.append(
                    DeadLetter.from_json(m.value) if m.topic.endswith("dead") else Event.from_json(m.value)
                )
            if msgs:
                await consumer.commit(msgs)
        await consumer.stop()
        return out


async def make_rig(queue_max: int = 1000, bus: BusSettings = BUS) -> Rig:
    b = MemoryBus(bus)
    producer = b.producer()
    await producer.start()
    ctx = PipelineContext.create("t", SourceRegistry(Settings()), "Asia/Ho_Chi_Minh")
    batcher = Batcher(ctx, BusSink(producer, bus), queue_max=queue_max, batch_max=50, linger_ms=5)
    return Rig(b, batcher, asyncio.create_task(batcher.run()))


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    r = await make_rig()
    yield r
    r.task.cancel()


async def send(port: int, payload: bytes, ssl_ctx: ssl.SSLContext | None = None) -> None:
    _, w = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_ctx)
    w.write(payload)
    await w.drain()
    w.close()
    await w.wait_closed()


def line(i: int) -> bytes:
    return f"<13>1 2026-11-23T10:00:00Z h app - - - message {i}".encode()


async def test_lf_and_octet_counting_on_one_connection(rig: Rig) -> None:
    server = await start_stream(rig.batcher, "127.0.0.1", 0, MAX)
    port = server.sockets[0].getsockname()[1]
    framed = line(2)
    payload = line(1) + b"\n\n" + str(len(framed)).encode() + b" " + framed + line(3) + b"\r\n" + line(4)
    await send(port, payload)
    got = await rig.collect(4)
    server.close()
    assert all(isinstance(e, Event) for e in got)
    assert [e.fields["message"] for e in got if isinstance(e, Event)] == [
        f"message {i}" for i in (1, 2, 3, 4)
    ]
    assert len({e.event_id for e in got if isinstance(e, Event)}) == 4


async def test_oversize_messages_are_kept_as_dead_letters_and_the_stream_resyncs(rig: Rig) -> None:
    server = await start_stream(rig.batcher, "127.0.0.1", 0, MAX)
    port = server.sockets[0].getsockname()[1]
    big = b"<13>1 - h a - - - " + b"x" * 5000
    payload = big + b"\n" + line(1) + b"\n" + str(len(big)).encode() + b" " + big + line(2) + b"\n"
    await send(port, payload)
    got = await rig.collect(4)
    server.close()
    kinds = [(type(x).__name__, x.reason if isinstance(x, DeadLetter) else x.fields["message"]) for x in got]
    assert sorted(kinds) == sorted(
        [
            ("DeadLetter", "oversize"),
            ("Event", "message 1"),
            ("DeadLetter", "oversize"),
            ("Event", "message 2"),
        ]
    )
    for d in got:
        if isinstance(d, DeadLetter):
            assert d.raw == big[:MAX]


async def test_udp_datagrams_single_batched_and_oversize(rig: Rig) -> None:
    transport = await start_udp(rig.batcher, "127.0.0.1", 0, MAX)
    port = transport.get_extra_info("sockname")[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(line(1), ("127.0.0.1", port))
        s.sendto(line(2) + b"\n" + line(3) + b"\n", ("127.0.0.1", port))
        s.sendto(b"<13>" + b"y" * 2000, ("127.0.0.1", port))
    got = await rig.collect(4)
    transport.close()
    events = sorted(e.fields["message"] for e in got if isinstance(e, Event))
    assert events == ["message 1", "message 2", "message 3"]
    assert [d.reason for d in got if isinstance(d, DeadLetter)] == ["oversize"]
    assert all(e.transport == "udp" for e in got)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "c.pem", tmp / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_listener(rig: Rig, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = await start_stream(rig.batcher, "127.0.0.1", 0, MAX, server_ctx)
    port = server.sockets[0].getsockname()[1]
    client_ctx = ssl.create_default_context(cafile=str(cert))
    client_ctx.check_hostname = False
    framed = line(7)
    await send(port, str(len(framed)).encode() + b" " + framed, client_ctx)
    got = await rig.collect(1)
    server.close()
    assert len(got) == 1 and isinstance(got[0], Event)
    assert got[0].transport == "tls" and got[0].fields["message"] == "message 7"


async def test_a_slow_sink_pushes_back_to_tcp_and_nothing_is_lost() -> None:
    # The bus holds at most 20 uncommitted records and the queue 5 frames: the listener must stop
    # reading rather than drop, and everything arrives once a consumer drains the bus.
    rig = await make_rig(queue_max=5, bus=BusSettings(partitions=1, max_pending=20))
    server = await start_stream(rig.batcher, "127.0.0.1", 0, MAX)
    port = server.sockets[0].getsockname()[1]
    n = 2000
    sender = asyncio.create_task(send(port, b"".join(line(i) + b"\n" for i in range(n))))
    await asyncio.sleep(0.5)
    assert rig.bus.held(BUS.topic("events.raw")) <= 20 + 50  # bounded: max_pending plus one batch
    got = await rig.collect(n, within_s=30)
    await sender
    server.close()
    rig.task.cancel()
    assert [e.fields["message"] for e in got if isinstance(e, Event)] == [f"message {i}" for i in range(n)]


def issue_cert(
    tmp: Path, name: str, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path, Path]:
    """A certificate for ``name`` signed by ``ca`` (self-signed CA when None); returns cert, key, paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    issuer_cert, issuer_key = ca if ca else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
    )
    # Python 3.13 verifies strictly (RFC 5280): key identifiers, and key usage on the CA.
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    )
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
    )
    if ca is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert, key, cert_path, key_path


async def test_tls_client_certificates_decide_the_agency(rig: Rig, tmp_path: Path) -> None:
    ca_cert, ca_key, ca_path, _ = issue_cert(tmp_path, "city-ca", None)
    _, _, srv_crt, srv_key = issue_cert(tmp_path, "localhost", (ca_cert, ca_key))
    _, _, fw_crt, fw_key = issue_cert(tmp_path, "fw01.q1.hcm.gov.vn", (ca_cert, ca_key))
    _, _, odd_crt, odd_key = issue_cert(tmp_path, "stranger.example", (ca_cert, ca_key))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(srv_crt, srv_key)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(cafile=ca_path)
    owners = {"fw01.q1.hcm.gov.vn": "q1"}
    server = await start_stream(
        rig.batcher,
        "127.0.0.1",
        0,
        MAX,
        server_ctx,
        lambda names: next((owners[n] for n in names if n in owners), None),
    )
    port = server.sockets[0].getsockname()[1]

    def client(crt: Path | None, key: Path | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(ca_path))
        ctx.check_hostname = False
        if crt and key:
            ctx.load_cert_chain(crt, key)
        return ctx

    await send(port, line(1) + b"\n", client(fw_crt, fw_key))
    got = await rig.collect(1)
    assert len(got) == 1 and isinstance(got[0], Event) and got[0].agency == "q1" and got[0].transport == "tls"
    # A certificate no agency owns, and no certificate at all: nothing gets in.
    await send(port, line(2) + b"\n", client(odd_crt, odd_key))
    # (TLS 1.3 rejects a missing client certificate after the client's side of the handshake, so the
    # client may or may not see an error; what matters is that nothing gets in.)
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        await send(port, line(3) + b"\n", client(None, None))
    assert await rig.collect(1, within_s=1) == []
    server.close()
