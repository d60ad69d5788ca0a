"""The incident timeline (``citysoc.web.console.chronology``): moments from the incident and what hangs
off it, oldest first, ties in a fixed order; and the incident page showing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from citysoc.db import AlertGroup
from citysoc.web.console.chronology import KINDS, Moment, chronology

from .conftest import Console, make_alert

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class Inc:
    detected_at: datetime
    acknowledged_at: datetime | None = None
    contained_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass
class Grp:
    title: str
    first_seen: datetime
    last_seen: datetime


@dataclass
class Tsk:
    title: str
    agency_id: int
    created_at: datetime
    completed_at: datetime | None = None


@dataclass
class Cus:
    at: datetime
    action: str
    holder: str


@dataclass
class Evi:
    file_name: str
    acquired_at: datetime
    custody: list[Cus] = field(default_factory=list)


@dataclass
class Obs:
    kind: str
    value: str
    created_at: datetime


@dataclass
class Rep:
    kind: str
    sent_at: datetime | None


def kinds(moments: list[Moment]) -> list[str]:
    return [m.kind for m in moments]


def test_a_bare_incident_is_its_detection() -> None:
    assert chronology(Inc(T0)) == [Moment(T0, "detected")]


def test_full_story_oldest_first() -> None:
    inc = Inc(at(5), acknowledged_at=at(10), contained_at=at(60), resolved_at=at(120), closed_at=at(200))
    story = chronology(
        inc,
        groups=[Grp("SSH brute force", at(0), at(30)), Grp("Port scan", at(2), at(90))],
        tasks=[Tsk("Block IP", 7, at(15), completed_at=at(50)), Tsk("Review accounts", 8, at(16))],
        evidence=[
            Evi("auth.log", at(20), [Cus(at(20), "acquired", "ana"), Cus(at(25), "transferred", "vault")])
        ],
        observables=[Obs("ipv4", "203.0.113.9", at(12))],
        reports=[
            Rep("initial", at(100)),
            Rep("progress", None),
            Rep("end", at(210)),
            Rep("initial", at(150)),
        ],
    )
    assert kinds(story) == [
        "first_alert",
        "detected",
        "acknowledged",
        "observable",
        "task_assigned",
        "task_assigned",
        "evidence",
        "custody",
        "task_done",
        "contained",
        "last_alert",
        "initial_report",
        "resolved",
        "report_sent",  # a second initial report is a report sent, not the initial one
        "closed",
        "report_sent",
    ]
    assert story[0] == Moment(at(0), "first_alert", "SSH brute force")
    assert story[10] == Moment(at(90), "last_alert", "Port scan")
    assert Moment(at(50), "task_done", "Block IP", 7) in story
    assert Moment(at(25), "custody", "auth.log: transferred → vault") in story
    assert Moment(at(12), "observable", "ipv4 203.0.113.9") in story
    assert [m.at for m in story] == sorted(m.at for m in story)


def test_ties_keep_a_fixed_order_and_one_alert_group_at_one_instant_is_one_line() -> None:
    story = chronology(
        Inc(at(0), acknowledged_at=at(0), closed_at=at(0)),
        groups=[Grp("g", at(0), at(0))],
        tasks=[Tsk("t", 1, at(0), completed_at=at(0))],
    )
    assert kinds(story) == ["first_alert", "detected", "acknowledged", "task_assigned", "task_done", "closed"]
    assert [KINDS.index(k) for k in kinds(story)] == sorted(KINDS.index(k) for k in kinds(story))


async def test_incident_page_shows_the_timeline(console: Console) -> None:
    await console.agency("q1")
    await console.user("ana", "soc_analyst")
    await console.alerts([make_alert(i, agency="q1", host=f"h{i}") for i in range(2)])
    async with console.db.session() as s:
        ids = sorted(await s.scalars(sa.select(AlertGroup.id)))
    created = await console.api(
        "POST", "/api/v1/incidents", 201, json={"title": "Dò mật khẩu", "severity": "high", "group_ids": ids}
    )
    base = f"/api/v1/incidents/{created['id']}"
    await console.api("POST", f"{base}/transition", json={"to": "triage"})
    await console.login("ana")
    page = (await console.client.get(f"/incidents/{created['id']}")).text
    story = page.split('id="story"')[1].split("</section>")[0]
    entries = story.count('data-testid="story-entry"')
    assert entries == 4  # first alert, detected, acknowledged, latest alert
    assert story.index('data-kind="first_alert"') < story.index('data-kind="acknowledged"')
    assert "Cảnh báo đầu tiên</strong>: Brute force" in story
