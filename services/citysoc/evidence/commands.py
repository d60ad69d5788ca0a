"""``citysoc evidence keygen|export|verify``."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from citysoc.core.config import Settings
from citysoc.evidence import archive, keys
from citysoc.evidence.export import IncompleteExport, collect


def keygen(settings: Settings) -> int:
    ev = settings.evidence
    ev.signing_key.parent.mkdir(parents=True, exist_ok=True)
    try:
        key = keys.generate(ev.signing_key, ev.public_key)
    except FileExistsError:
        print(f"citysoc: {ev.signing_key} exists; refusing to replace the center's key", file=sys.stderr)
        return 1
    print(f"wrote {ev.signing_key} (private, 0600) and {ev.public_key}")
    print(f"key id {archive.key_id(key.public_key())}")
    return 0


def verify(settings: Settings, archive_path: Path, public_key: Path | None) -> int:
    trusted = keys.load_public(public_key or settings.evidence.public_key)
    verdict = archive.verify_archive(archive_path, trusted)
    for problem in verdict.problems:
        print(f"FAIL {problem}")
    status = "verified" if verdict.ok else "NOT verified"
    print(f"{status}: {verdict.records} files, trusted key {archive.key_id(trusted)}")
    return 0 if verdict.ok else 1


def export(settings: Settings, args: argparse.Namespace) -> int:
    from citysoc.store.clickhouse import ClickHouseStore

    store = ClickHouseStore(settings.store)
    try:
        events, alerts = collect(store, args.alert or [], args.event or [])
    except IncompleteExport as e:
        print(f"citysoc: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    key = keys.load_private(settings.evidence.signing_key)
    by = args.by or getpass.getuser()
    manifest = archive.write_archive(
        Path(args.out), events, alerts, key=key, exported_by=by, reason=args.reason
    )
    print(f"wrote {args.out}: {len(events)} events, {len(alerts)} alerts")
    print(f"manifest sha256 {archive.sha256(manifest)}")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.evidence_cmd == "keygen":
        return keygen(settings)
    if args.evidence_cmd == "verify":
        return verify(settings, Path(args.archive), Path(args.public_key) if args.public_key else None)
    return export(settings, args)
