"""The alert queue's flat view (single alerts from the store), the matched-event preview, saved views
and the bulk "add to an existing incident" control, over HTTP with a cookie jar (no browser; the
browser run is ``test_browser_queue.py``)."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from citysoc.core.alert import Alert, Level
from citysoc.core.event import Event, stable_id
from citysoc.db import AlertGroup, SavedView, User

from .conftest import ORIGIN, Console, make_alert

ROW = 'data-testid="alert-row"'
_IDS = re.compile(r'data-row data-id="([^"]+)" data-testid="alert-row"')


def row_ids(page: str) -> list[str]:
    return _IDS.findall(page)


def next_link(page: str) -> str | None:
    m = re.search(r'<a href="([^"]+)" rel="next"', page)
    return html.unescape(m.group(1)) if m else None


def event(agency: str, n: int, at: datetime, text: str) -> Event:
    return Event(
        event_id=stable_id("queue-test", agency, n),
        received_at=at,
        event_time=at,
        agency=agency,
        system="portal",
        source_host=f"{agency}-web{n}",
        source_ip=f"192.0.2.{n % 250}",
        transport="tcp",
        format="rfc5424",
        raw=text.encode(),
        fields={"program": "sshd", "message": text},
    )


def alert(
    n: int,
    agency: str,
    *,
    ago: timedelta = timedelta(minutes=30),
    level: Level = "low",
    rule: str = "r-brute",
    title: str = "Brute force",
) -> tuple[Alert, Event]:
    """An alert ``ago`` before now (plus ``n`` seconds, so they sort) and its matched event."""
    at = datetime.now(UTC) - ago + timedelta(seconds=n)
    ev = event(agency, n, at, f"Failed password for root from 203.0.113.{n % 250} ({agency} #{n})")
    base = make_alert(n, agency=agency, rule=rule, level=level, host=f"h{n}", title=title)
    return replace(base, time=at, detected_at=at + timedelta(seconds=2), event_ids=(ev.event_id,)), ev


async def feed(console: Console, pairs: list[tuple[Alert, Event]], *, grouped: bool = True) -> None:
    console.store.insert_events([e for _, e in pairs])
    if grouped:
        await console.alerts([a for a, _ in pairs])
    else:
        console.store.insert_alerts([a for a, _ in pairs])


async def group_of(console: Console, host: str) -> int:
    async with console.db.session() as s:
        gid = await s.scalar(sa.select(AlertGroup.id).where(AlertGroup.key["host"].as_string() == host))
    assert gid is not None
    return int(gid)


# --- flat view ----------------------------------------------------------------------------------------


async def test_flat_view_lists_alerts_newest_first_with_filters_and_cursor_pages(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    pairs = [alert(i, "q1") for i in range(30)]
    pairs.append(alert(100, "q3", level="critical", rule="r-sql", title="SQL injection"))
    old = alert(200, "q1", ago=timedelta(days=3), title="Old brute force")
    await feed(console, [*pairs, old])
    loose = alert(300, "q1", ago=timedelta(minutes=1), title="Not fed yet")
    await feed(console, [loose], grouped=False)
    await console.login("ana")
    newest_first = [a.alert_id for a, _ in sorted([*pairs, old, loose], key=lambda p: p[0].detected_at)][::-1]

    page = (await console.client.get("/alerts", params={"view": "flat", "limit": 25})).text
    assert page.count(ROW) == 25 and 'data-testid="group-row"' not in page
    assert row_ids(page) == newest_first[:25]
    assert 'aria-current="true" data-testid="view-flat"' in page
    # The next page continues after the cursor: no alert twice, none skipped, the filters kept.
    nxt = next_link(page)
    assert nxt is not None and "view=flat" in nxt and "limit=25" in nxt
    second = (await console.client.get(nxt)).text
    assert row_ids(second) == newest_first[25:] and next_link(second) is None
    assert "Trang đầu" in second  # a way back to the first page

    # Each row: Ho Chi Minh time, level, title and rule, agency, system, host, matched fields, group link.
    fed = pairs[0][0]
    gid = await group_of(console, "h0")
    row = second.split(f'data-id="{fed.alert_id}"')[1].split("</tr>")[0]
    local = fed.detected_at.astimezone(UTC) + timedelta(hours=7)
    assert local.strftime("%d/%m/%Y %H:%M:%S") in row
    assert "Thấp" in row and "Brute force" in row and "r-brute" in row and ">q1<" in row
    assert ">portal<" in row and ">h0<" in row and "User=admin" in row
    assert f'href="/alerts/groups/{gid}?alert={fed.alert_id}' in row
    first_row = page.split(f'data-id="{loose[0].alert_id}"')[1].split("</tr>")[0]
    assert "chưa vào nhóm" in first_row and "/alerts/preview?alert=" in first_row
    assert 'name="ids"' not in first_row  # nothing to select or triage without a group

    async def ids(**params: Any) -> list[str]:
        return row_ids((await console.client.get("/alerts", params={"view": "flat", **params})).text)

    sql = pairs[-1][0].alert_id
    assert await ids(level="critical") == [sql]
    assert await ids(rule="r-sql") == [sql]
    assert await ids(agency="q3") == [sql]
    assert old[0].alert_id not in await ids(range="24h", limit=100)
    assert old[0].alert_id in await ids(range="7d", limit=100)
    # Unknown values are ignored, a stale cursor starts again from the first page.
    assert len(await ids(level="bogus", range="1y", limit=7)) == 33
    assert (await ids(cursor="garbage", limit=25)) == newest_first[:25]


async def test_view_switch_keeps_the_common_filters(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    await console.login("ana")
    grouped = (
        await console.client.get(
            "/alerts",
            params={"level": "high", "status": "new", "q": "brute", "sort": "-count", "range": "7d"},
        )
    ).text
    to_flat = html.unescape(re.search(r'<a href="([^"]+)"[^>]*data-testid="view-flat"', grouped).group(1))  # type: ignore[union-attr]
    assert to_flat == "/alerts?view=flat&level=high&range=7d"
    flat = (await console.client.get(to_flat + "&rule=r-x&limit=25")).text
    assert 'id="f-status"' not in flat and 'id="f-sort"' not in flat and 'name="view" value="flat"' in flat
    back = html.unescape(re.search(r'<a href="([^"]+)"[^>]*data-testid="view-grouped"', flat).group(1))  # type: ignore[union-attr]
    assert back == "/alerts?view=grouped&level=high&rule=r-x&limit=25&range=7d"


async def test_officer_flat_view_and_preview_stay_in_their_agency(console: Console) -> None:
    q1 = await console.agency("q1")
    await console.agency("q3")
    await console.user("officer", "agency_officer", q1)
    own, other = alert(1, "q1", title="Q1 alert"), alert(2, "q3", title="Q3 alert")
    await feed(console, [own, other])
    other_group = await group_of(console, "h2")
    await console.login("officer")
    for params in ({"view": "flat"}, {"view": "flat", "agency": "q3"}, {"view": "flat", "agency": ""}):
        page = (await console.client.get("/alerts", params=params)).text
        assert row_ids(page) == [own[0].alert_id], params  # ?agency= cannot widen the scope
        assert "Q3 alert" not in page and 'id="f-agency"' not in page and 'id="bulk"' not in page
    for params in (
        {"alert": other[0].alert_id},
        {"group": other_group},
        {"alert": other[0].alert_id, "partial": 1},
    ):
        r = await console.client.get("/alerts/preview", params=params)
        assert r.status_code == 404 and "Failed password" not in r.text, params
    mine = await console.client.get("/alerts/preview", params={"alert": own[0].alert_id, "partial": 1})
    assert mine.status_code == 200 and "(q1 #1)" in mine.text


# --- preview ------------------------------------------------------------------------------------------


async def test_preview_fragment_full_page_and_group_newest_occurrence(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    older, newer = alert(1, "q1"), alert(2, "q1")
    newer = (replace(newer[0], host="h1"), newer[1])  # same group as ``older`` (key: host)
    await feed(console, [older, newer])
    gid = await group_of(console, "h1")
    await console.login("ana")

    fragment = await console.client.get("/alerts/preview", params={"alert": older[0].alert_id, "partial": 1})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    text = fragment.text
    assert (
        'data-testid="event-preview"' in text and "Failed password for root from 203.0.113.1 (q1 #1)" in text
    )
    assert "&#34;program&#34;: &#34;sshd&#34;" in text  # the parsed fields
    assert "q1-web1 192.0.2.1 (tcp, rfc5424)" in text  # the source
    assert f'href="/alerts/groups/{gid}?alert={older[0].alert_id}' in text

    full = await console.client.get(
        "/alerts/preview", params={"alert": older[0].alert_id, "back": "/alerts?view=flat"}
    )
    assert full.status_code == 200 and "<html" in full.text and 'href="/alerts?view=flat"' in full.text
    assert "default-src 'self'" in full.headers["content-security-policy"]

    by_group = (await console.client.get("/alerts/preview", params={"group": gid, "partial": 1})).text
    assert f'data-alert="{newer[0].alert_id}"' in by_group and "(q1 #2)" in by_group  # the newest one
    assert (await console.client.get("/alerts/preview")).status_code == 400
    assert (await console.client.get("/alerts/preview", params={"alert": "nope"})).status_code == 404
    assert (await console.client.get("/alerts/preview", params={"group": 999999})).status_code == 404

    # Every queue row links to its preview (a full page without JavaScript, a fragment with it).
    queue = (await console.client.get("/alerts")).text
    assert f'href="/alerts/preview?group={gid}&amp;back=' in queue
    assert f'data-preview-url="/alerts/preview?group={gid}&amp;partial=1' in queue
    assert "<kbd>p</kbd>" in queue and 'id="preview-panel"' in queue


# --- saved views --------------------------------------------------------------------------------------


async def _audit(console: Console, action: str) -> list[dict[str, Any]]:
    got = await console.api("GET", "/api/v1/audit", params={"limit": 200})
    return [e for e in got["items"] if e["action"] == action]


async def _view_id(console: Console, name: str) -> int:
    async with console.db.session() as s:
        vid = await s.scalar(sa.select(SavedView.id).where(SavedView.name == name))
    assert vid is not None
    return int(vid)


async def test_save_apply_default_and_delete_a_view(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    await console.login("ana")
    page = (
        await console.client.get("/alerts", params={"view": "flat", "level": "critical", "limit": 25})
    ).text
    assert 'name="query" value="view=flat&amp;level=critical&amp;limit=25"' in page
    assert 'id="sv-shared"' not in page  # analysts cannot share

    # Unknown keys and values in the submitted query are dropped, as applying them would.
    r = await console.post(
        "/alerts/views",
        {"name": "Nguy cấp", "query": "view=flat&level=critical&limit=25&sort=zzz&evil=1", "back": "/alerts"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts?view=flat&level=critical&limit=25"
    shown = (await console.client.get(r.headers["location"])).text
    assert "Đã lưu bộ lọc." in shown
    assert (
        'href="/alerts?view=flat&amp;level=critical&amp;limit=25" data-testid="saved-view" aria-current="true"'
        in shown
    )
    vid = await _view_id(console, "Nguy cấp")

    # Saving again under the same name replaces the view's query.
    await console.post(
        "/alerts/views", {"name": "Nguy cấp", "query": "view=flat&level=high", "back": "/alerts"}
    )
    async with console.db.session() as s:
        assert (await s.get(SavedView, vid)).query == "view=flat&level=high"  # type: ignore[union-attr]

    # The default view opens a bare /alerts (a redirect: the address shows the filters in force).
    assert (await console.client.get("/alerts")).status_code == 200
    await console.post(f"/alerts/views/{vid}/default", {"on": "1", "back": "/alerts?view=grouped"})
    bare = await console.client.get("/alerts")
    assert bare.status_code == 303 and bare.headers["location"] == "/alerts?view=flat&level=high"
    assert (await console.client.get("/alerts?view=grouped")).status_code == 200  # an explicit view wins
    grouped = "/alerts?view=grouped"  # the CSRF token comes from a page that is not redirected
    await console.post(f"/alerts/views/{vid}/default", {"on": "0", "back": grouped}, page=grouped)
    assert (await console.client.get("/alerts")).status_code == 200

    await console.post(f"/alerts/views/{vid}/delete", {"back": grouped})
    assert 'data-testid="saved-view"' not in (await console.client.get("/alerts")).text
    for action in ("saved_view.create", "saved_view.update", "saved_view.default", "saved_view.delete"):
        entries = await _audit(console, action)
        assert entries and all("ana" in e["actor"] for e in entries), action
    assert len(await _audit(console, "saved_view.default")) == 2  # set, then unset


async def test_shared_views_visibility_and_who_may_change_them(console: Console) -> None:
    q1 = await console.agency("q1")
    for name, role in (
        ("lead", "soc_lead"),
        ("ana", "soc_analyst"),
        ("boss", "city_soc_admin"),
        ("aud", "auditor"),
    ):
        await console.user(name, role)
    await console.user("officer", "agency_officer", q1)

    await console.login("lead")
    lead_page = (await console.client.get("/alerts")).text
    assert 'id="sv-shared"' in lead_page
    await console.post("/alerts/views", {"name": "Ca đêm", "query": "status=new&range=24h", "shared": "1"})
    vid = await _view_id(console, "Ca đêm")

    await console.login("ana")
    page = (await console.client.get("/alerts?view=grouped")).text
    row = page.split(f'data-view="{vid}"')[1].split("</tr>")[0]
    assert "Ca đêm" in row and "lead" in row
    assert 'data-view-action="default"' in row and 'data-view-action="delete"' not in row
    assert 'data-view-action="share"' not in row
    # Not the owner: refused even when the form is forged; sharing needs view.share.
    assert (await console.post(f"/alerts/views/{vid}/delete", {})).status_code == 403
    assert (await console.post(f"/alerts/views/{vid}/share", {"on": "0"})).status_code == 403
    await console.post("/alerts/views", {"name": "Của tôi", "query": "level=high"})
    mine = await _view_id(console, "Của tôi")
    assert (await console.post(f"/alerts/views/{mine}/share", {"on": "1"})).status_code == 403
    # Anyone who sees it may make it their own default (their choice only).
    await console.post(f"/alerts/views/{vid}/default", {"on": "1"})
    assert (await console.client.get("/alerts")).headers[
        "location"
    ] == "/alerts?view=grouped&status=new&range=24h"
    await console.login("lead")
    assert (await console.client.get("/alerts")).status_code == 200  # the owner has no default

    # Auditors read shared views but save and change none; officers never see them.
    await console.login("aud")
    page = (await console.client.get("/alerts?view=grouped")).text
    assert "Ca đêm" in page and 'action="/alerts/views"' not in page and "data-view-action" not in page
    assert (await console.post("/alerts/views", {"name": "x", "query": ""})).status_code == 403
    assert (await console.post(f"/alerts/views/{vid}/default", {"on": "1"})).status_code == 403
    await console.login("officer")
    page = (await console.client.get("/alerts")).text
    assert "Ca đêm" not in page and 'action="/alerts/views"' in page  # they save their own
    assert (await console.post(f"/alerts/views/{vid}/default", {"on": "1"})).status_code == 404

    # The city SOC admin may change and delete a shared view of someone else.
    await console.login("boss")
    page = (await console.client.get("/alerts?view=grouped")).text
    assert 'data-view-action="delete"' in page.split(f'data-view="{vid}"')[1].split("</tr>")[0]
    assert (await console.post(f"/alerts/views/{vid}/delete", {})).status_code == 303
    async with console.db.session() as s:
        assert await s.get(SavedView, vid) is None
    deleted = await _audit(console, "saved_view.delete")
    assert len(deleted) == 1 and "boss" in deleted[0]["actor"] and deleted[0]["before"]["name"] == "Ca đêm"


async def test_saved_values_are_revalidated_and_rescoped_when_applied(console: Console) -> None:
    q1 = await console.agency("q1")
    await console.agency("q3")
    await console.user("officer", "agency_officer", q1)
    await feed(console, [alert(1, "q1", title="Q1 alert"), alert(2, "q3", title="Q3 alert")])
    async with console.db.session() as s:
        officer = await s.scalar(sa.select(User.id).where(User.username == "officer"))
        # Stored by an older version, or edited in the database: unknown keys, bad values, a foreign agency.
        v = SavedView(
            owner_id=officer, name="cũ", query="view=flat&level=bogus&agency=q3&rule=r-brute&limit=7&evil=1"
        )
        s.add(v)
        await s.commit()
        vid = v.id
    await console.login("officer")
    page = (await console.client.get("/alerts?view=grouped")).text
    assert 'href="/alerts?view=flat&amp;rule=r-brute" data-testid="saved-view"' in page
    await console.post(f"/alerts/views/{vid}/default", {"on": "1"})
    r = await console.client.get("/alerts")
    assert r.status_code == 303 and r.headers["location"] == "/alerts?view=flat&rule=r-brute"
    applied = (await console.client.get(r.headers["location"])).text
    assert "Q1 alert" in applied and "Q3 alert" not in applied


async def test_saving_needs_a_name_and_csrf(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    await console.login("ana")
    r = await console.post(
        "/alerts/views", {"name": "  ", "query": "level=high", "back": "/alerts?level=high"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts?level=high"
    assert "Chưa lưu bộ lọc" in (await console.client.get("/alerts?level=high")).text
    forged = await console.client.post(
        "/alerts/views", data={"name": "x", "query": ""}, headers={"Origin": ORIGIN}
    )
    assert forged.status_code == 403
    async with console.db.session() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(SavedView)) == 0


# --- bulk: add to an existing incident ------------------------------------------------------------------


def _has_route(console: Console, method: str, path: str) -> bool:
    return any(
        getattr(r, "path", None) == path and method in (getattr(r, "methods", None) or ())
        for r in console.app.routes
    )


async def test_bulk_bar_offers_adding_groups_to_an_open_incident(console: Console) -> None:
    q1 = await console.agency("q1")
    await console.user("ana", "soc_analyst")
    await console.user("aud", "auditor")
    await console.user("officer", "agency_officer", q1)
    await feed(console, [alert(1, "q1"), alert(2, "q1")])
    first, second = await group_of(console, "h1"), await group_of(console, "h2")
    incident = await console.api(
        "POST", "/api/v1/incidents", 201, json={"title": "Dò mật khẩu", "group_ids": [first]}
    )
    await console.login("ana")
    for view in ("grouped", "flat"):
        page = (await console.client.get("/alerts", params={"view": view})).text
        bulk = page.split('id="bulk"')[1].split("</form>")[0]
        # The default button (Enter in a text field) is disabled: Enter never acknowledges the selection.
        assert bulk.split("<button", 1)[1].startswith(' type="submit" disabled hidden')
        assert '<label for="bulk-incident-ref">' in bulk
        assert 'id="bulk-incident-ref" name="incident" list="open-incidents"' in bulk
        assert f'<option value="{incident["code"]}">{incident["code"]} — Dò mật khẩu</option>' in bulk
        assert 'formaction="/incidents/link-groups" data-testid="bulk-link"' in bulk
    for user in ("aud", "officer"):
        await console.login(user)
        assert 'data-testid="bulk-link"' not in (await console.client.get("/alerts")).text
    if _has_route(console, "POST", "/incidents/link-groups"):
        await console.login("ana")
        r = await console.post(
            "/incidents/link-groups", {"ids": [second], "incident": incident["code"], "back": "/alerts"}
        )
        assert r.status_code == 303
        group = await console.api("GET", f"/api/v1/alert-groups/{second}")
        assert group["incident_id"] == incident["id"]
