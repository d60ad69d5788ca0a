"""Suppressions, rules and the systems registry in the console over HTTP: create a suppression from
a pre-filled link (groups are marked at once), refusals come back as a message, revoke releases the
groups, the rules page counts suppressed groups per rule, officers and auditors get no write controls,
and the systems page shows each system's sending sources and last event from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from citysoc.api.suppressions.service import MAX_LIFETIME
from citysoc.core.event import Event
from citysoc.db import AlertGroup, AuditEntry, Suppression, System
from citysoc.store.base import SourceActivity
from citysoc.web.console import i18n
from citysoc.web.console.views_registry import coverage
from citysoc.web.console.views_suppressions import parse_key

from .conftest import Console, make_alert


async def _suppressed(console: Console) -> dict[str, int | None]:
    async with console.db.session() as s:
        rows = (await s.execute(sa.select(AlertGroup.key, AlertGroup.suppression_id))).all()
    return {str(k["host"]): sid for k, sid in rows}


def _in_days(n: int) -> str:
    return (datetime.now(i18n.ZONE) + timedelta(days=n)).date().isoformat()


async def test_create_from_a_prefilled_link_marks_groups_and_revoke_releases_them(console: Console) -> None:
    await console.agency("q1")
    await console.user("lead", "soc_lead")
    await console.alerts(
        [make_alert(i, agency="q1", host=h) for i, h in enumerate(("scanner", "scanner", "web01"))]
    )
    await console.login("lead")
    link = "/suppressions?rule=r-brute&agency=q1&key=host%3Dscanner"
    form = (await console.client.get(link)).text
    # The form is open and pre-filled from the link; the default expiry is 30 days away.
    assert 'id="new" open' in form and 'value="r-brute"' in form and "host=scanner</textarea>" in form
    assert '<option value="q1" selected>' in form and f'value="{_in_days(30)}"' in form

    body = {
        "name": "Vulnerability scanner",
        "justification": "Authorised weekly scan from the SOC's own scanner",
        "rule": "r-brute",
        "agency": "q1",
        "key": "host=scanner",
        "expires": _in_days(30),
    }
    r = await console.post("/suppressions", body, page="/suppressions")
    assert r.status_code == 303 and r.headers["location"] == "/suppressions"
    page = (await console.client.get("/suppressions")).text
    assert "Đã tạo quy tắc loại trừ; 1 nhóm cảnh báo được đánh dấu." in page
    assert page.count('data-testid="suppression-row"') == 1 and "Vulnerability scanner" in page
    marked = await _suppressed(console)
    assert marked["scanner"] is not None and marked["web01"] is None
    async with console.db.session() as s:
        sup = (await s.scalars(sa.select(Suppression))).one()
        # The expiry is the end of the chosen day in Ho Chi Minh time.
        local = sup.expires_at.astimezone(i18n.ZONE)
        assert (local.date().isoformat(), local.hour, local.minute) == (_in_days(30), 23, 59)
        assert "lead" in sup.owner and sup.key == {"host": "scanner"}

    # The rules page counts the suppressed group and the suppression naming the rule.
    rules = (await console.client.get("/rules")).text
    assert 'data-testid="active-suppressions">1<' in rules
    assert '<a href="/suppressions?rule=r-brute"' in rules and ">1 / 1</a>" in rules

    r = await console.post(f"/suppressions/{sup.id}/revoke", {}, page="/suppressions")
    assert r.status_code == 303
    page = (await console.client.get("/suppressions")).text
    assert "Đã thu hồi quy tắc loại trừ" in page and 'data-testid="suppression-row"' not in page
    ended = (await console.client.get("/suppressions", params={"state": "ended"})).text
    assert ended.count('data-testid="suppression-row"') == 1 and "Đã thu hồi" in ended
    assert 'data-testid="revoke"' not in ended
    assert (await _suppressed(console))["scanner"] is None
    again = await console.post(f"/suppressions/{sup.id}/revoke", {}, page="/suppressions")
    assert again.status_code == 303
    assert "đã được thu hồi trước đó" in (await console.client.get("/suppressions")).text
    async with console.db.session() as s:
        acts = list(
            await s.scalars(sa.select(AuditEntry.action).where(AuditEntry.object_type == "suppression"))
        )
    assert acts == ["suppression.create", "suppression.revoke"]


@pytest.mark.parametrize(
    "change",
    [
        {"rule": "", "agency": "", "system": ""},  # no criterion at all
        {"justification": "too short"},
        {"key": "host scanner"},  # not field=value
        {"expires": _in_days(MAX_LIFETIME.days + 2)},
        {"expires": "2020-01-01"},
        {"expires": "soon"},
    ],
)
async def test_refused_suppressions_say_why_and_store_nothing(
    console: Console, change: dict[str, str]
) -> None:
    await console.user("lead", "soc_lead")
    await console.login("lead")
    body = {
        "name": "x",
        "justification": "long enough justification",
        "rule": "r-brute",
        "expires": _in_days(10),
    } | change
    r = await console.post("/suppressions", body, page="/suppressions")
    assert r.status_code == 303
    assert "Không tạo được quy tắc" in (await console.client.get("/suppressions")).text
    async with console.db.session() as s:
        assert (await s.scalar(sa.select(sa.func.count()).select_from(Suppression))) == 0


async def test_roles_officers_and_auditors(console: Console) -> None:
    q1 = await console.agency("q1")
    await console.user("officer", "agency_officer", q1)
    await console.user("aud", "auditor")
    await console.user("lead", "soc_lead")
    await console.login("lead")
    body = {"name": "n", "justification": "long enough justification", "agency": "q1", "expires": _in_days(5)}
    await console.post("/suppressions", body, page="/suppressions")
    async with console.db.session() as s:
        sid = (await s.scalars(sa.select(Suppression.id))).one()

    await console.login("aud")
    page = await console.client.get("/suppressions")
    assert page.status_code == 200 and page.text.count('data-testid="suppression-row"') == 1
    assert 'action="/suppressions"' not in page.text and 'data-testid="revoke"' not in page.text
    assert (await console.post(f"/suppressions/{sid}/revoke", {}, page="/suppressions")).status_code == 403
    assert (await console.post("/suppressions", body, page="/suppressions")).status_code == 403

    await console.login("officer")
    assert 'href="/suppressions"' not in (await console.client.get("/alerts")).text
    assert (await console.client.get("/suppressions")).status_code == 403
    assert (await console.post(f"/suppressions/{sid}/revoke", {}, page="/alerts")).status_code == 403
    async with console.db.session() as s:
        kept = await s.get(Suppression, sid)
        assert kept is not None and kept.revoked_at is None


async def test_systems_page_shows_sources_and_last_seen(console: Console) -> None:
    q1 = await console.agency("q1")
    await console.user("lead", "soc_lead")
    await console.user("officer", "agency_officer", q1)
    for code in ("q1-portal", "q1-mail"):
        await console.api(
            "POST",
            "/api/v1/systems",
            201,
            json={
                "code": code,
                "name": code,
                "owner_agency_id": q1,
                "operator_agency_id": q1,
                "log_sources": ["syslog"],
                "function_class": "citizen_services",
            },
        )
    now = datetime.now(UTC)
    event = Event(
        event_id="0b8e6f3c-4a51-4f7e-9d2a-1c9a3e5b7d10",
        received_at=now,
        event_time=now,
        agency="q1",
        system="q1-portal",
        source_host="web01",
        source_ip="10.0.0.5",
        transport="udp",
        format="rfc5424",
        raw=b"<13>1 - web01 app - - - hi",
    )
    console.store.insert_events([event])
    await console.login("lead")
    page = (await console.client.get("/registry/systems")).text
    rows = page.split('data-testid="system-row"')[1:]
    portal = next(r for r in rows if "q1-portal" in r)
    mail = next(r for r in rows if "q1-mail" in r)
    assert "10.0.0.5" in portal and i18n.Translator("vi").datetime(now)[:16] in portal
    assert "không có dữ liệu 7 ngày" in mail and "10.0.0.5" not in mail
    # The officer's page asks the store for their agency only, and still sees their own system.
    await console.login("officer")
    own = (await console.client.get("/registry/systems")).text
    assert own.count('data-testid="system-row"') == 2 and "10.0.0.5" in own


def test_parse_key_and_the_systems_page_join() -> None:
    assert parse_key("host=web01\n\n user = a=b ; x=") == {"host": "web01", "user": "a=b", "x": ""}
    with pytest.raises(ValueError):
        parse_key("host")
    with pytest.raises(ValueError):
        parse_key("=v")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    acts = [
        SourceActivity("q1", "a", "10.0.0.2", 1, 1, 0, 0, t0),
        SourceActivity("q1", "a", "10.0.0.1", 1, 1, 0, 0, t0 + timedelta(minutes=5)),
        SourceActivity("q1", "a", "", 0, 0, 0, 3, None),  # alerts only
        SourceActivity("q1", "b", "", 0, 0, 0, 2, None),
        SourceActivity("q3", "z", "10.9.9.9", 1, 1, 0, 0, t0),
    ]
    # What /registry/systems shows per registered system: coverage() of its page's systems.
    registered = [(System(code=c, name=c, log_sources=[]), "q1") for c in ("a", "b", "c")]
    seen = {r.code: r for r in coverage(registered, acts, t0 + timedelta(minutes=10), 15, "q1")}
    assert seen["a"].sources == {"10.0.0.1", "10.0.0.2"} and seen["a"].last_seen == t0 + timedelta(minutes=5)
    assert seen["a"].state == "heard"
    assert seen["b"].sources == set() and seen["b"].last_seen is None and seen["b"].state == "never"
    assert seen["c"].last_seen is None and seen["c"].state == "never"
    assert set(seen) == {"a", "b", "c"}  # another agency's system is not joined in


async def test_queue_hides_suppressed_groups_unless_asked_and_group_page_prefills_a_suppression(
    console: Console,
) -> None:
    await console.agency("q1")
    await console.user("lead", "soc_lead")
    await console.user("ana", "soc_analyst")
    await console.alerts([make_alert(i, agency="q1", host=h) for i, h in enumerate(("scanner", "web01"))])
    async with console.db.session() as s:
        gid = {k["host"]: i for i, k in (await s.execute(sa.select(AlertGroup.id, AlertGroup.key))).all()}
    await console.login("lead")
    group = (await console.client.get(f"/alerts/groups/{gid['scanner']}")).text
    link = group.split('data-testid="suppress-like"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert link == "/suppressions?rule=r-brute&amp;agency=q1&amp;system=portal&amp;key=host%3Dscanner#new"
    form = (await console.client.get(link.replace("&amp;", "&").removesuffix("#new"))).text
    assert "host=scanner</textarea>" in form and 'value="portal"' in form
    body = {
        "name": "scanner",
        "justification": "Authorised scanner of the district",
        "rule": "r-brute",
        "agency": "q1",
        "system": "portal",
        "key": "host=scanner",
        "expires": _in_days(3),
    }
    await console.post("/suppressions", body, page="/suppressions")

    def hosts(html: str) -> list[str]:
        rows = html.split('data-testid="group-row"')[1:]
        return sorted(h for h in ("scanner", "web01") if any(f"host={h}" in r for r in rows))

    queue = (await console.client.get("/alerts")).text
    assert hosts(queue) == ["web01"]  # the raising queue
    everything = (await console.client.get("/alerts", params={"suppressed": "include"})).text
    assert hosts(everything) == ["scanner", "web01"] and everything.count('data-testid="suppressed"') == 1
    only = (await console.client.get("/alerts", params={"suppressed": "only"})).text
    assert hosts(only) == ["scanner"]
    # The status tabs count what the list shows.
    assert 'data-testid="tab-new">Mới <span class="n">1</span>' in queue
    # Analysts may read suppressions but not make them: no link on the group page.
    await console.login("ana")
    assert (
        'data-testid="suppress-like"' not in (await console.client.get(f"/alerts/groups/{gid['web01']}")).text
    )
