"""Periodic city reports (quarter, half-year, year; City plans and Circular 20/2017 form 05): counts
by agency, severity, category and status, time metrics, the statutory clock's record, top rules and
monitoring coverage, suppressed alert groups, as JSON, CSV or a printable HTML page.

An incident belongs to the period it was *detected* in (``[start, end)`` in UTC); merged-away
incidents are left out (their groups count in the incident they were merged into).
"""

from __future__ import annotations

import csv
import html
import io
import statistics
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.reports.models import (
    Count,
    Coverage,
    Durations,
    Period,
    PeriodicReport,
    RuleCount,
    SuppressedCount,
)
from citysoc.db import Agency, AlertGroup, Incident, IncidentAgency, Suppression, System
from citysoc.db.enums import IncidentAgencyRole, IncidentStatus

TOP_RULES = 10


def window(year: int, period: Period) -> tuple[datetime, datetime]:
    first, months = {
        "q1": (1, 3),
        "q2": (4, 3),
        "q3": (7, 3),
        "q4": (10, 3),
        "h1": (1, 6),
        "h2": (7, 6),
        "year": (1, 12),
    }[period]
    start = datetime(year, first, 1, tzinfo=UTC)
    last = first + months
    end = datetime(year + (last > 12), (last - 1) % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _seconds(dialect: str, later: Any, earlier: Any) -> Any:
    """Seconds from ``earlier`` to ``later`` (NULL when either is), computed by the database. SQLite
    keeps naive UTC text: julianday differences (resolution ~50 us, far below what is reported)."""
    if dialect == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0
    return sa.func.extract("epoch", later - earlier)


def _durations(values: Iterable[float | None]) -> Durations:
    v = [float(x) for x in values if x is not None]
    if not v:
        return Durations(count=0, mean_s=None, median_s=None)
    return Durations(count=len(v), mean_s=statistics.fmean(v), median_s=statistics.median(v))


def _counts(rows: Iterable[tuple[object, int]]) -> list[Count]:
    out = [Count(key=str(getattr(k, "value", k)), count=int(n)) for k, n in rows]
    return sorted(out, key=lambda c: (-c.count, c.key))


async def build(session: AsyncSession, year: int, period: Period) -> PeriodicReport:
    start, end = window(year, period)
    in_period = sa.and_(
        Incident.detected_at >= start, Incident.detected_at < end, Incident.merged_into_id.is_(None)
    )

    async def grouped(col: Any) -> list[Count]:
        rows = await session.execute(sa.select(col, sa.func.count()).where(in_period).group_by(col))
        return _counts((k, n) for k, n in rows)

    by_agency_rows = await session.execute(
        sa.select(Agency.code, sa.func.count(sa.distinct(Incident.id)))
        .join(IncidentAgency, IncidentAgency.agency_id == Agency.id)
        .join(Incident, Incident.id == IncidentAgency.incident_id)
        .where(in_period, IncidentAgency.role == IncidentAgencyRole.AFFECTED)
        .group_by(Agency.code)
    )
    # Counted and measured in SQL: a year of a city's incidents must not be pulled into Python rows.
    dialect = session.get_bind().dialect.name
    total, serious, on_time, late, missing = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(Incident.serious),
                sa.func.count().filter(Incident.initial_report_at <= Incident.report_due_at),
                sa.func.count().filter(Incident.initial_report_at > Incident.report_due_at),
                sa.func.count().filter(
                    Incident.initial_report_at.is_(None), Incident.status != IncidentStatus.DISMISSED
                ),
            ).where(in_period)
        )
    ).one()
    spans = (
        await session.execute(
            sa.select(
                _seconds(dialect, Incident.acknowledged_at, Incident.detected_at),
                _seconds(dialect, Incident.contained_at, Incident.detected_at),
                _seconds(dialect, Incident.resolved_at, Incident.detected_at),
            ).where(in_period)
        )
    ).all()
    rules = await session.execute(
        sa.select(AlertGroup.rule_id, sa.func.count(), sa.func.sum(AlertGroup.count))
        .where(AlertGroup.first_seen >= start, AlertGroup.first_seen < end)
        .group_by(AlertGroup.rule_id)
    )
    top = sorted(
        (RuleCount(rule_id=r, groups=int(g), alerts=int(a or 0)) for r, g, a in rules),
        key=lambda x: (-x.alerts, -x.groups, x.rule_id),
    )[:TOP_RULES]
    held = await session.execute(
        sa.select(
            Suppression.id,
            Suppression.name,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(AlertGroup.count), 0),
        )
        .join(AlertGroup, AlertGroup.suppression_id == Suppression.id)
        .where(AlertGroup.first_seen >= start, AlertGroup.first_seen < end)
        .group_by(Suppression.id, Suppression.name)
        .order_by(Suppression.id)
    )
    suppressed = [
        SuppressedCount(suppression_id=i, name=n, groups=int(g), alerts=int(a)) for i, n, g, a in held
    ]
    cov = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(System.onsite_staff),
                sa.func.count().filter(System.professional_monitoring),
                sa.func.count().filter(System.independent_assessment),
                sa.func.count().filter(System.national_monitoring),
            ).select_from(System)
        )
    ).one()
    return PeriodicReport(
        year=year,
        period=period,
        start=start,
        end=end,
        incidents=int(total),
        serious=int(serious),
        by_status=await grouped(Incident.status),
        by_severity=await grouped(Incident.severity),
        by_category=await grouped(Incident.category),
        by_agency=_counts((k, n) for k, n in by_agency_rows),
        time_to_acknowledge=_durations(r[0] for r in spans),
        time_to_contain=_durations(r[1] for r in spans),
        time_to_resolve=_durations(r[2] for r in spans),
        initial_reports_on_time=on_time,
        initial_reports_late=late,
        initial_reports_missing=missing,
        top_rules=top,
        suppressed=suppressed,
        coverage=Coverage(
            systems=cov[0],
            onsite_staff=cov[1],
            professional_monitoring=cov[2],
            independent_assessment=cov[3],
            national_monitoring=cov[4],
        ),
    )


def rows(r: PeriodicReport) -> list[tuple[str, str, str]]:
    """``(section, key, value)`` rows: the CSV and HTML forms of the report."""
    out: list[tuple[str, str, str]] = [
        ("period", "year", str(r.year)),
        ("period", "period", r.period),
        ("period", "start", r.start.isoformat()),
        ("period", "end", r.end.isoformat()),
        ("totals", "incidents", str(r.incidents)),
        ("totals", "serious", str(r.serious)),
    ]
    sections: Sequence[tuple[str, list[Count]]] = (
        ("by_status", r.by_status),
        ("by_severity", r.by_severity),
        ("by_category", r.by_category),
        ("by_agency", r.by_agency),
    )
    for name, counts in sections:
        out += [(name, c.key, str(c.count)) for c in counts]
    for name, d in (
        ("time_to_acknowledge", r.time_to_acknowledge),
        ("time_to_contain", r.time_to_contain),
        ("time_to_resolve", r.time_to_resolve),
    ):
        out += [
            (name, "count", str(d.count)),
            (name, "mean_s", _num(d.mean_s)),
            (name, "median_s", _num(d.median_s)),
        ]
    out += [
        ("initial_reports", "on_time", str(r.initial_reports_on_time)),
        ("initial_reports", "late", str(r.initial_reports_late)),
        ("initial_reports", "missing", str(r.initial_reports_missing)),
    ]
    for t in r.top_rules:
        out += [
            ("top_rules_groups", t.rule_id, str(t.groups)),
            ("top_rules_alerts", t.rule_id, str(t.alerts)),
        ]
    for h in r.suppressed:
        out += [("suppressed_groups", h.name, str(h.groups)), ("suppressed_alerts", h.name, str(h.alerts))]
    out += [("coverage", k, str(v)) for k, v in r.coverage.model_dump().items()]
    return out


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.1f}"


def to_csv(r: PeriodicReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("section", "key", "value"))
    w.writerows(rows(r))
    return buf.getvalue()


def to_html(r: PeriodicReport, organisation: str) -> str:
    """A printable page (no scripts, no external resources)."""
    title = f"{organisation}: security incident report {r.year} {r.period.upper()}"
    body: list[str] = []
    section = None
    for s, k, v in rows(r):
        if s != section:
            if section is not None:
                body.append("</tbody></table>")
            body.append(f"<h2>{html.escape(s.replace('_', ' '))}</h2><table><tbody>")
            section = s
        body.append(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>")
    body.append("</tbody></table>")
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "th,td{border:1px solid #999;padding:2px 8px;text-align:left}"
        "@media print{h2{page-break-after:avoid}}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(body)}</body></html>"
    )
