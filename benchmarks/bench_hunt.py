"""Retro-hunt over N stored events in chDB (default 10 million): insert time, then hunt times per rule.

Method: a fresh chDB directory; the events table is filled by ClickHouse itself with one
``INSERT ... SELECT ... FROM numbers(N)`` (Sysmon-like Windows events, ~450 bytes of fields each,
``fields`` JSON and ``field_map`` as the store writes them, spread over the last 7 days, 20 agencies);
planted events (every 100,003rd row a ``whoami``, every 250,007th a ``mimikatz`` command line) give
known answers, checked after each hunt. Each rule is hunted through ``citysoc.hunt.service.run_hunt``
(translation, SQL in chDB, engine check of undecided rows) over the whole window; the best and the
median of ``--repeat`` runs are printed (ClickHouse's query condition cache off, so repeats redo the
work; the first run also pays for cold caches), then the same for a one-day window of one agency.

    .venv/bin/python benchmarks/bench_hunt.py [--events 10000000] [--path DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from citysoc.core.config import StoreSettings
from citysoc.detection.engine import Engine
from citysoc.hunt.service import run_hunt
from citysoc.store.clickhouse import ClickHouseStore

WHOAMI_EVERY = 100_003
MIMIKATZ_EVERY = 250_007
SYSMON = "Microsoft-Windows-Sysmon/Operational"

# One row per number: EventID 1 (process creation) or 3 (network), 50 images, 20 agencies.
INSERT = """
INSERT INTO {db}.events (event_id, received_at, event_time, agency, system, source_host, source_ip,
    transport, format, ls_product, ls_service, ls_category, raw, fields, field_map, collector, attributed,
    security_level)
SELECT
    generateUUIDv4(number) AS event_id,
    fromUnixTimestamp64Micro({now:Int64} - toInt64(number % 604800000) * 1000, 'UTC') AS received_at,
    received_at - toIntervalSecond(1) AS event_time,
    concat('agency', toString(number % 20)) AS agency,
    'erp' AS system,
    concat('ws-', toString(number % 5000)) AS source_host,
    concat('10.1.', toString(number % 5), '.', toString(number % 100)) AS source_ip,
    'http' AS transport, 'evtx_json' AS format, 'windows' AS ls_product, '' AS ls_service, '' AS ls_category,
    fields AS raw,
    toJSONString(CAST(tuple(eid, '{sysmon}', source_host, toString(number), image, cmd, user,
        parent, toUInt16(1024 + number % 60000), dst),
        'Tuple(EventID UInt16, Channel String, Computer String, EventRecordID String, Image String,
               CommandLine String, User String, ParentImage String, DestinationPort UInt16,
               DestinationIp String)')) AS fields,
    map('EventID', toString(eid), 'Channel', '{sysmon}', 'Computer', source_host,
        'EventRecordID', toString(number), 'Image', image, 'CommandLine', cmd, 'User', user,
        'ParentImage', parent, 'DestinationPort', toString(1024 + number % 60000),
        'DestinationIp', dst) AS field_map,
    'bench' AS collector, true AS attributed, 3 AS security_level
FROM (
    SELECT number,
        if(number % 4 = 0, 3, 1) AS eid,
        multiIf(number % {whoami} = 0, 'C:\\\\Windows\\\\System32\\\\whoami.exe',
                concat('C:\\\\Program Files\\\\App', toString(number % 50), '\\\\app',
                       toString(number % 50), '.exe'))
            AS image,
        multiIf(number % {mimikatz} = 0, 'mimikatz.exe "sekurlsa::logonpasswords" exit',
                number % {whoami} = 0, 'whoami /all',
                concat('"', image, '" --task ', toString(number % 977), ' --user ',
                       toString(number % 31), ' --mode sync --log C:\\\\ProgramData\\\\App\\\\log.txt'))
            AS cmd,
        concat('CORP\\\\user', toString(number % 3000)) AS user,
        'C:\\\\Windows\\\\explorer.exe' AS parent,
        if(number % 7 = 0, concat('185.', toString(number % 250), '.1.9'),
           concat('10.0.', toString(number % 250), '.20')) AS dst
    FROM numbers({n:UInt64})
)
SETTINGS output_format_json_escape_forward_slashes = 0
"""

RULES = {
    "whoami (EventID 1, Image endswith)": """
title: Whoami execution
id: 00000000-0000-4000-8000-00000000b001
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\whoami.exe'}
  condition: sel
""",
    "credential dumping (CommandLine contains any of 8)": """
title: Credential dumping command lines
id: 00000000-0000-4000-8000-00000000b002
logsource: {product: windows, category: process_creation}
detection:
  sel:
    CommandLine|contains: ['sekurlsa::', 'lsadump::', 'privilege::debug', 'token::elevate', 'procdump',
                           'comsvcs.dll', 'ntds.dit', 'vssadmin create shadow']
  condition: sel
""",
    "keyword (any value)": """
title: Mimikatz keyword
id: 00000000-0000-4000-8000-00000000b003
logsource: {product: windows}
detection:
  keywords: [mimikatz]
  condition: keywords
""",
    "regex on CommandLine": """
title: Regex command line
id: 00000000-0000-4000-8000-00000000b004
logsource: {product: windows, category: process_creation}
detection:
  sel: {CommandLine|re: 'whoami\\s+/(all|priv)'}
  condition: sel
""",
    "no literal: port range, not cidr (every row flattened)": """
title: Outbound high port to public address
id: 00000000-0000-4000-8000-00000000b005
logsource: {product: windows, category: network_connection}
detection:
  sel: {DestinationPort|gte: 61000}
  filter: {DestinationIp|cidr: [10.0.0.0/8, 192.168.0.0/16, 172.16.0.0/12]}
  condition: sel and not filter
""",
}

EXPECTED = {  # planted answers, as SQL over the generated numbers
    "whoami (EventID 1, Image endswith)": "number % {w} = 0 AND number % 4 != 0",
    "credential dumping (CommandLine contains any of 8)": "number % {m} = 0 AND number % 4 != 0",
    "keyword (any value)": "number % {m} = 0",
    "regex on CommandLine": "number % {w} = 0 AND number % {m} != 0 AND number % 4 != 0",
    "no literal: port range, not cidr (every row flattened)": (
        "number % 4 = 0 AND 1024 + number % 60000 >= 61000 AND number % 7 = 0"
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--path", type=Path, default=None, help="chDB directory (default: a fresh temp dir)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=100_000)
    ap.add_argument(
        "--condition-cache",
        action="store_true",
        help="keep ClickHouse's query condition cache on (repeats of one query then skip granules)",
    )
    args = ap.parse_args()
    path = args.path or Path(tempfile.mkdtemp(prefix="bench-hunt-"))
    store = ClickHouseStore(StoreSettings(dsn=f"chdb://{path}", database="bench"))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        store.migrate()
        client = store._conn()  # the benchmark drives ClickHouse directly for the bulk insert
        if not args.condition_cache:
            # ClickHouse (25.3+) remembers which granules a WHERE ruled out; a repeated hunt would then
            # skip them. Off, so every run does the work a first hunt does.
            client.set_client_setting("use_query_condition_cache", 0)
        existing = client.command("SELECT count() FROM `bench`.events")
        if existing:  # --path with data from an earlier run: hunt it again (their time base)
            now = client.command("SELECT max(received_at) FROM `bench`.events")
            now = datetime.fromisoformat(str(now)).replace(tzinfo=UTC)
            args.events = int(existing)
        t0 = time.perf_counter()
        sql = (
            INSERT.replace("{db}", "`bench`")
            .replace("{sysmon}", SYSMON)
            .replace("{whoami}", str(WHOAMI_EVERY))
            .replace("{mimikatz}", str(MIMIKATZ_EVERY))
        )
        if not existing:
            client.command(sql, parameters={"n": args.events, "now": int(now.timestamp() * 1_000_000)})
        insert_s = time.perf_counter() - t0
        rows = client.command("SELECT count() FROM `bench`.events")
        size = client.command(
            "SELECT sum(bytes_on_disk) FROM system.parts"
            " WHERE database = 'bench' AND table = 'events' AND active"
        )
        if existing:
            print(f"reusing {rows:,} stored events; {size / 2**30:.2f} GiB on disk")
        else:
            rate = rows / insert_s
            gib = size / 2**30
            print(f"inserted {rows:,} events in {insert_s:.1f} s ({rate:,.0f} rows/s); {gib:.2f} GiB on disk")

        since, until = now - timedelta(days=8), now + timedelta(days=1)
        day_since = now - timedelta(days=1)
        for name, text in RULES.items():
            engine = Engine.from_yaml(text)
            assert not engine.errors, engine.errors
            cond = EXPECTED[name].format(w=WHOAMI_EVERY, m=MIMIKATZ_EVERY)
            expected = client.command(f"SELECT count() FROM numbers({args.events}) WHERE {cond}")
            windows = (("all agencies, 7 days", since, None), ("agency0, 1 day", day_since, "agency0"))
            for label, lo, agency in windows:
                times = []
                result = None
                for _ in range(args.repeat):
                    t1 = time.perf_counter()
                    hunt = run_hunt(store, engine, lo, until, agency=agency, limit=args.limit, started_at=now)
                    times.append(time.perf_counter() - t1)
                    result = hunt.rules[0]
                assert result is not None
                if agency is None:
                    assert len(result.events) == expected, (name, len(result.events), expected)
                print(
                    f"{name:<56} {label:<21} first {times[0]:6.2f} s  best {min(times):6.2f} s"
                    f"  median {statistics.median(times):6.2f} s  hits {len(result.events):>5,}"
                    f"  sql-decided {result.decided_by_sql:>5,}  checked {result.checked}"
                )
    finally:
        store.close()
        if args.path is None:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
