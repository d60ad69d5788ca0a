"""``citysoc evidence keygen|export|verify``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import datetime
from pathlib import Path

from citysoc.core.config import Settings
from citysoc.core.event import utc
from citysoc.evidence import archive, keys, scope
from citysoc.evidence.export import IncompleteExport, collect
from citysoc.parsing.timestamps import parse_iso


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
    reason = args.reason
    try:
        alert_ids = list(args.alert or [])
        if args.incident:
            code, found = asyncio.run(_incident_alerts(settings, args.incident))
            alert_ids += found
            reason = f"{code}: {reason}"
        if args.query:
            alert_ids += scope.query_alert_ids(
                store,
                agency=args.agency,
                rule_id=args.rule,
                since=_time(args.since),
                until=_time(args.until),
                limit=args.limit,
            )
        events, alerts = collect(store, alert_ids, args.event or [])
    except IncompleteExport as e:
        print(f"citysoc: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    key = keys.load_private(settings.evidence.signing_key)
    by = args.by or getpass.getuser()
    manifest = archive.write_archive(Path(args.out), events, alerts, key=key, exported_by=by, reason=reason)
    print(f"wrote {args.out}: {len(events)} events, {len(alerts)} alerts")
    print(f"manifest sha256 {archive.sha256(manifest)}")
    return 0


async def _incident_alerts(settings: Settings, incident: str) -> tuple[str, list[str]]:
    from citysoc.db import Database

    db = Database(settings.database_url)
    try:
        return await scope.incident_alert_ids(db, incident)
    finally:
        await db.dispose()


def _time(text: str | None) -> datetime | None:
    """ISO 8601 text as an aware time (UTC when it names no offset)."""
    if text is None:
        return None
    parsed = parse_iso(text)
    if parsed is None:
        raise IncompleteExport(f"unreadable time {text!r} (ISO 8601, e.g. 2026-11-23T10:00:00+07:00)")
    return utc(parsed)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.evidence_cmd == "keygen":
        return keygen(settings)
    if args.evidence_cmd == "verify":
        return verify(settings, Path(args.archive), Path(args.public_key) if args.public_key else None)
    return export(settings, args)
