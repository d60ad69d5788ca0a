"""Evidence archives: correct, complete, clean (tamper-evident) and still verifiable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from citysoc.cli import main
from citysoc.core.alert import Alert
from citysoc.core.config import StoreSettings
from citysoc.core.event import Event, Logsource, stable_id
from citysoc.evidence.archive import (
    MANIFEST,
    SIGNATURE,
    archive_files,
    read_members,
    verify_members,
    write_archive,
)
from citysoc.store.clickhouse import ClickHouseStore

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


def event(i: int, raw: bytes) -> Event:
    return Event(
        stable_id("ev", i),
        T0,
        T0,
        "q1",
        "portal",
        "web01",
        "10.0.0.5",
        "tcp",
        "rfc3164",
        raw,
        {"message": f"m{i}"},
        Logsource("linux", "sshd"),
        "c1",
        True,
    )


EVENTS = [
    event(1, b"<38>Nov 23 10:00:00 web01 sshd[1]: Failed password"),
    event(2, b"\xff\xfe raw \x00 bytes"),
]
ALERT = Alert(
    stable_id("al", 1),
    "rule-1",
    "SSH failures",
    "medium",
    "test",
    ("attack.t1110",),
    "q1",
    "portal",
    "web01",
    (EVENTS[0].event_id,),
    {"message": "m1"},
    T0,
    T0,
)


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    path = tmp_path_factory.mktemp("ev") / "case.tar"
    write_archive(path, EVENTS, [ALERT], key=KEY, exported_by="analyst1", reason="case 2026-17", now=T0)
    return read_members(path)


def test_export_then_verify_passes_and_raw_bytes_are_exact(members: dict[str, bytes]) -> None:
    verdict = verify_members(members, KEY.public_key())
    assert verdict.ok and verdict.problems == [] and verdict.records == 5
    assert members[f"events/{EVENTS[1].event_id}.raw"] == b"\xff\xfe raw \x00 bytes"
    assert set(members) == {MANIFEST, SIGNATURE, *archive_files(EVENTS, [ALERT])}
    assert (
        b'"exported_by": "analyst1"' in members[MANIFEST] and b'"reason": "case 2026-17"' in members[MANIFEST]
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_flipping_any_byte_of_any_record_is_detected_and_named(
    members: dict[str, bytes], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(members)))
    index = data.draw(st.integers(0, len(members[name]) - 1))
    flipped = bytearray(members[name])
    flipped[index] ^= data.draw(st.integers(1, 255))
    verdict = verify_members({**members, name: bytes(flipped)}, KEY.public_key())
    assert not verdict.ok
    if name in (MANIFEST, SIGNATURE):
        assert any("signature" in p or "manifest" in p for p in verdict.problems)
    else:
        assert f"{name}: SHA-256 mismatch (record altered)" in verdict.problems


def test_a_manifest_resigned_with_another_key_fails_naming_the_key(members: dict[str, bytes]) -> None:
    other = Ed25519PrivateKey.generate()
    forged = {**members, SIGNATURE: other.sign(members[MANIFEST])}
    verdict = verify_members(forged, KEY.public_key())
    assert not verdict.ok and "not verify with the trusted key" in verdict.problems[0]
    # and verifying against the forger's key is refused too: the manifest names the center's key
    assert not verify_members(forged, other.public_key()).ok


def test_removed_and_injected_files_are_reported(members: dict[str, bytes]) -> None:
    raw = f"events/{EVENTS[0].event_id}.raw"
    gone = {k: v for k, v in members.items() if k != raw}
    assert f"{raw}: missing" in verify_members(gone, KEY.public_key()).problems
    extra = {**members, "events/planted.raw": b"x"}
    assert "events/planted.raw: not in the manifest" in verify_members(extra, KEY.public_key()).problems


def test_cli_keygen_export_verify_over_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dsn = f"chdb://{tmp_path}/chdb"
    store = ClickHouseStore(StoreSettings(dsn=dsn))
    store.migrate()
    store.insert_events(EVENTS)
    store.insert_alerts([ALERT])
    store.close()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "store": {"dsn": dsn},
                "evidence": {
                    "signing_key": str(tmp_path / "k" / "sign.key"),
                    "public_key": str(tmp_path / "k" / "sign.pub"),
                },
            }
        )
    )
    base = ["--config", str(cfg), "evidence"]
    assert main([*base, "keygen"]) == 0
    assert main([*base, "keygen"]) == 1  # never replaces the center's key
    assert (tmp_path / "k" / "sign.key").stat().st_mode & 0o777 == 0o600
    out = tmp_path / "case.tar"
    assert (
        main(
            [
                *base,
                "export",
                "--alert",
                ALERT.alert_id,
                "--event",
                EVENTS[1].event_id,
                "--out",
                str(out),
                "--by",
                "analyst1",
                "--reason",
                "case 17",
            ]
        )
        == 0
    )
    assert main([*base, "verify", str(out)]) == 0
    members = read_members(out)
    assert members[f"events/{EVENTS[1].event_id}.raw"] == EVENTS[1].raw  # byte-exact from the store
    assert (
        main(
            [*base, "export", "--alert", stable_id("nope"), "--out", str(tmp_path / "x.tar"), "--reason", "r"]
        )
        == 1
    )
    assert not (tmp_path / "x.tar").exists()  # incomplete exports are refused, not shrunk
    err = capsys.readouterr().err
    assert "not in the store: alert" in err
