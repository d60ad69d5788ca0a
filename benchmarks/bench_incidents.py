"""Incident service costs on the relational database: creating incidents (code counter, links and
the audit append in one transaction), building a periodic city report, and the statutory clock's
count behind the ``/metrics`` gauges.

Method: a fresh database (SQLite file in a temp dir, or a throwaway PostgreSQL database next to
``--pg`` when given) migrated to head; 10 agencies, 20 systems; N incidents created one per
transaction through ``citysoc.api.incidents.service.create`` (as the API does, minus HTTP), detection
times spread over 2026, severities and categories cycling, half moved to ``triage``. Then the year's
periodic report (``periodic.build``) and the clock count (``clock.counts``), best and median of
``--repeat`` runs each.

    .venv/bin/python benchmarks/bench_incidents.py [--n 2000] [--repeat 5] [--pg postgresql+asyncpg://127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from citysoc.api.access.actor import SYSTEM
from citysoc.api.incidents import clock, service
from citysoc.api.incidents.models import IncidentIn, TransitionIn
from citysoc.api.reports import periodic
from citysoc.core.config import ReportingSettings
from citysoc.db import Agency, Database, System
from citysoc.db.enums import AgencyKind, FunctionClass, IncidentStatus, Severity
from citysoc.db.testing import create_pg_database, drop_pg_database


async def _seed(db: Database) -> tuple[list[int], list[int]]:
    async with db.session() as s:
        agencies = [
            Agency(code=f"a{i}", name=f"Agency {i}", kind=AgencyKind.DISTRICT, contacts=[]) for i in range(10)
        ]
        s.add_all(agencies)
        await s.flush()
        systems = [
            System(
                code=f"s{i}", name=f"System {i}", owner_agency_id=agencies[i % 10].id,
                operator_agency_id=agencies[i % 10].id, function_class=FunctionClass.OTHER,
            )
            for i in range(20)
        ]  # fmt: skip
        s.add_all(systems)
        await s.commit()
        return [a.id for a in agencies], [x.id for x in systems]


async def run(url: str, n: int, repeat: int) -> None:
    db = Database(url)
    await db.upgrade()
    agencies, systems = await _seed(db)
    reporting = ReportingSettings()
    sev = list(Severity)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    for i in range(n):
        data = IncidentIn(
            title=f"incident {i}",
            category=("malware", "phishing", "intrusion", "dos")[i % 4],
            severity=sev[i % 4],
            detected_at=t0 + timedelta(minutes=(i * 997) % (365 * 24 * 60)),
            affected_agency_ids=[agencies[i % 10]],
            system_ids=[systems[i % 20]],
        )
        async with db.session() as s:
            inc = await service.create(s, SYSTEM, data, reporting)
            if i % 2:
                await service.transition(s, SYSTEM, inc.id, TransitionIn(to=IncidentStatus.TRIAGE))
    created = time.perf_counter() - start
    builds, counts = [], []
    for _ in range(repeat):
        async with db.session() as s:
            t = time.perf_counter()
            report = await periodic.build(s, 2026, "year")
            builds.append(time.perf_counter() - t)
            t = time.perf_counter()
            due, overdue = await clock.counts(s, datetime.now(UTC))
            counts.append(time.perf_counter() - t)
    assert report.incidents == n and due + overdue == n
    await db.dispose()
    name = db.url.get_backend_name()
    ms = [statistics.median(builds) * 1000, min(builds) * 1000, statistics.median(counts) * 1000]
    print(f"{name} n={n}: create {n / created:,.0f} incidents/s (one per transaction, audited)")
    print(f"{name} periodic year report: best {ms[1]:.1f} ms, median {ms[0]:.1f} ms")
    print(f"{name} clock counts: best {min(counts) * 1000:.2f} ms, median {ms[2]:.2f} ms")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--pg", help="admin URL of a PostgreSQL server to also measure")
    args = ap.parse_args()
    print(platform.platform(), platform.machine(), "python", platform.python_version())
    with tempfile.TemporaryDirectory() as d:
        await run(f"sqlite+aiosqlite:///{Path(d) / 'bench.db'}", args.n, args.repeat)
    if args.pg:
        url = await create_pg_database(args.pg, prefix="citysoc_bench_")
        try:
            await run(url, args.n, args.repeat)
        finally:
            await drop_pg_database(url, args.pg)


if __name__ == "__main__":
    asyncio.run(main())
