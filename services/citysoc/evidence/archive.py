"""Evidence archives: electronic evidence that is correct, complete, clean and still verifiable
("đúng, đủ, sạch, sống").

Layout of an archive (a POSIX tar file):

    manifest.json          what is inside, who exported it and when, a SHA-256 per file, a set hash
    manifest.sig           Ed25519 signature of manifest.json's exact bytes, by the center's key
    events/<id>.raw        each event's raw message, byte for byte as the collector received it
    events/<id>.json       its parsed envelope (schemas/event.schema.json)
    alerts/<id>.json       alerts the export was made for (context, also hashed)

Contract:
* ``set_sha256`` is the SHA-256 of the sorted lines ``<path> <sha256>``: adding, removing or renaming a
  file changes it.
* :func:`verify_archive` checks, in order: the signature against the *trusted* public key given by the
  verifier (a manifest re-signed with another key fails, naming the key), the set hash, then every
  file's hash; it names every record that fails. Files present but not in the manifest are reported.
* Building and checking the manifest are pure; only reading/writing the tar does I/O.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from citysoc.core.alert import Alert
from citysoc.core.event import Event

FORMAT = "citysoc-evidence/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def key_id(public: Ed25519PublicKey) -> str:
    """Fingerprint of a public key: SHA-256 of its raw 32 bytes."""
    return sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def set_hash(files: Mapping[str, str]) -> str:
    return sha256("".join(f"{path} {digest}\n" for path, digest in sorted(files.items())).encode())


def archive_files(events: Sequence[Event], alerts: Sequence[Alert]) -> dict[str, bytes]:
    """Every file of the archive except the manifest and its signature."""
    files: dict[str, bytes] = {}
    for e in events:
        files[f"events/{e.event_id}.raw"] = e.raw
        files[f"events/{e.event_id}.json"] = orjson.dumps(
            e.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        )
    for a in alerts:
        files[f"alerts/{a.alert_id}.json"] = orjson.dumps(
            a.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
        )
    return files


def build_manifest(
    files: Mapping[str, bytes], *, exported_by: str, reason: str, signer: Ed25519PublicKey, now: datetime
) -> bytes:
    digests = {path: sha256(data) for path, data in files.items()}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "exported_by": exported_by,
        "exported_at": now.astimezone(UTC).isoformat(),
        "reason": reason,
        "key_id": key_id(signer),
        "files": [{"path": p, "sha256": d, "bytes": len(files[p])} for p, d in sorted(digests.items())],
        "set_sha256": set_hash(digests),
    }
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2)


def write_archive(
    path: Path,
    events: Sequence[Event],
    alerts: Sequence[Alert],
    *,
    key: Ed25519PrivateKey,
    exported_by: str,
    reason: str,
    now: datetime | None = None,
) -> bytes:
    """Write the archive; returns the manifest bytes."""
    files = archive_files(events, alerts)
    manifest = build_manifest(
        files, exported_by=exported_by, reason=reason, signer=key.public_key(), now=now or datetime.now(UTC)
    )
    members = {MANIFEST: manifest, SIGNATURE: key.sign(manifest), **files}
    tmp = path.with_suffix(path.suffix + ".partial")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o444
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(path)  # an archive is either complete or absent
    return manifest


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    problems: list[str]
    records: int


def read_members(path: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(path, "r") as tar:
        for m in tar.getmembers():
            if m.isfile():
                f = tar.extractfile(m)
                if f is not None:
                    out[m.name] = f.read()
    return out


def verify_members(members: Mapping[str, bytes], trusted: Ed25519PublicKey) -> Verdict:
    """Check signature, set hash and every file against the trusted key (pure)."""
    manifest_bytes, signature = members.get(MANIFEST), members.get(SIGNATURE)
    if manifest_bytes is None or signature is None:
        return Verdict(False, ["manifest.json or manifest.sig missing"], 0)
    problems: list[str] = []
    try:
        trusted.verify(signature, manifest_bytes)
    except InvalidSignature:
        problems.append(
            "signature does not verify with the trusted key (manifest altered or signed by another key)"
        )
    try:
        manifest = orjson.loads(manifest_bytes)
        listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        return Verdict(False, [*problems, f"manifest unreadable: {e}"], 0)
    if manifest.get("key_id") != key_id(trusted):
        problems.append(f"signed by key {manifest.get('key_id')}, not the trusted key {key_id(trusted)}")
    if set_hash(listed) != manifest.get("set_sha256"):
        problems.append("set hash does not match the listed files")
    for path, digest in sorted(listed.items()):
        data = members.get(path)
        if data is None:
            problems.append(f"{path}: missing")
        elif sha256(data) != digest:
            problems.append(f"{path}: SHA-256 mismatch (record altered)")
    for path in sorted(set(members) - set(listed) - {MANIFEST, SIGNATURE}):
        problems.append(f"{path}: not in the manifest")
    return Verdict(not problems, problems, len(listed))


def verify_archive(path: Path, trusted: Ed25519PublicKey) -> Verdict:
    return verify_members(read_members(path), trusted)
