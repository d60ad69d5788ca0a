"""The console over HTTP with a cookie jar (no browser): login, CSRF, roles and scoping, triage
through the forms, languages. The browser runs are in ``test_browser.py``."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from citysoc.db import AlertGroup
from citysoc.db.enums import GroupStatus

from .conftest import ORIGIN, Console, csrf_of, make_alert


async def _groups(console: Console) -> dict[int, tuple[str, GroupStatus, str | None]]:
    async with console.db.session() as s:
        rows = (
            await s.execute(
                sa.select(AlertGroup.id, AlertGroup.agency, AlertGroup.status, AlertGroup.dismiss_reason)
            )
        ).all()
    return {i: (a, st, r) for i, a, st, r in rows}


async def test_pages_need_login_and_login_sets_a_strict_httponly_cookie(console: Console) -> None:
    await console.user("lead", "soc_lead")
    r = await console.client.get("/alerts?status=new")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Falerts%3Fstatus%3Dnew"
    page = await console.client.get("/login")
    assert 'lang="vi"' in page.text and "Đăng nhập" in page.text  # Vietnamese by default
    assert "citysoc_csrf" in page.headers.get("set-cookie", "")

    bad = await console.login("lead", "wrong password!")
    assert bad.status_code == 401 and "mật khẩu sai" in bad.text
    assert "citysoc_session" not in console.client.cookies

    ok = await console.login("lead")
    assert ok.status_code == 303
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith("citysoc_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    home = await console.client.get("/alerts")
    assert home.status_code == 200 and "Hàng đợi cảnh báo" in home.text
    assert "default-src 'self'" in home.headers["content-security-policy"]


async def test_login_and_forms_refuse_missing_csrf_or_foreign_origin(console: Console) -> None:
    await console.user("lead", "soc_lead")
    page = await console.client.get("/login")
    token = csrf_of(page.text)
    body = {"username": "lead", "password": "a long enough password"}
    assert (await console.client.post("/login", data=body)).status_code == 403
    foreign = await console.client.post(
        "/login", data={**body, "csrf": token}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "citysoc_session" not in console.client.cookies

    assert (await console.login("lead")).status_code == 303
    await console.alerts([make_alert(1, agency="q1")])
    (gid,) = await _groups(console)
    # No token, another session's token, a foreign origin: all refused, nothing changes.
    path = f"/alerts/groups/{gid}/triage"
    assert (await console.client.post(path, data={"to": "acknowledged"})).status_code == 403
    assert (await console.client.post(path, data={"to": "acknowledged", "csrf": token})).status_code == 403
    html = (await console.client.get("/alerts")).text
    evil = await console.client.post(
        path, data={"to": "acknowledged", "csrf": csrf_of(html)}, headers={"Origin": "http://evil"}
    )
    assert evil.status_code == 403
    assert (await _groups(console))[gid][1] == GroupStatus.NEW


async def test_triage_single_and_bulk_through_the_forms(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    await console.alerts([make_alert(i, agency="q1", host=f"h{i}") for i in range(4)])
    ids = sorted(await _groups(console))
    assert len(ids) == 4
    assert (await console.login("ana")).status_code == 303

    r = await console.post(f"/alerts/groups/{ids[0]}/triage", {"to": "acknowledged", "back": "/alerts"})
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    shown = await console.client.get("/alerts")
    assert "Đã tiếp nhận nhóm cảnh báo." in shown.text  # the flash message, once
    assert "Đã tiếp nhận nhóm cảnh báo." not in (await console.client.get("/alerts")).text

    await console.post(f"/alerts/groups/{ids[0]}/triage", {"to": "escalated"})
    # Dismissing needs a reason; a refused transition changes nothing and says so.
    assert (await console.post(f"/alerts/groups/{ids[1]}/triage", {"to": "dismissed"})).status_code == 303
    assert "Không thể chuyển" in (await console.client.get("/alerts")).text
    assert (await _groups(console))[ids[1]][1] == GroupStatus.NEW
    bogus = await console.post(f"/alerts/groups/{ids[1]}/triage", {"to": "dismissed", "reason": "bored"})
    assert bogus.status_code == 400
    await console.post(f"/alerts/groups/{ids[1]}/triage", {"to": "dismissed", "reason": "benign"})
    refused = await console.post(f"/alerts/groups/{ids[1]}/triage", {"to": "escalated"})
    assert refused.status_code == 303
    assert "Không thể chuyển" in (await console.client.get("/alerts")).text

    r = await console.post(
        "/alerts/bulk", {"ids": [ids[2], ids[3], ids[0]], "to": "dismissed", "reason": "false_positive"}
    )
    assert r.status_code == 303
    assert "Đã bỏ qua 2, không đổi 1." in (await console.client.get("/alerts")).text
    state = await _groups(console)
    assert state[ids[0]][1:] == (GroupStatus.ESCALATED, None)
    assert state[ids[1]][1:] == (GroupStatus.DISMISSED, "benign")
    assert state[ids[2]][1:] == state[ids[3]][1:] == (GroupStatus.DISMISSED, "false_positive")
    # The audit trail names the user who acted through the console.
    audit = await console.api("GET", "/api/v1/audit", params={"limit": 100})
    acts = [e for e in audit["items"] if e["action"] == "group.transition"]
    assert len(acts) == 5 and {e["actor"] for e in acts} == {next(iter({e["actor"] for e in acts}))}
    assert "ana" in acts[0]["actor"]


async def test_queue_filters_sort_and_pages(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    alerts = [make_alert(i, agency="q1", host=f"h{i}", level="low") for i in range(30)]
    alerts += [make_alert(100, agency="q3", host="db", level="critical", rule="r-sql", title="SQL injection")]
    await console.alerts(alerts)
    await console.login("ana")
    page = (await console.client.get("/alerts", params={"level": "critical"})).text
    assert page.count('data-testid="group-row"') == 1 and "SQL injection" in page
    assert (await console.client.get("/alerts", params={"q": "sql"})).text.count(
        'data-testid="group-row"'
    ) == 1
    first = (await console.client.get("/alerts", params={"limit": 25, "sort": "-level"})).text
    assert first.count('data-testid="group-row"') == 25 and first.index("SQL injection") < first.index("h29")
    assert 'rel="next"' in first
    nxt = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = (await console.client.get(nxt)).text
    assert second.count('data-testid="group-row"') == 6
    # Unknown filter values are ignored, not errors; a bad cursor starts again.
    assert (await console.client.get("/alerts", params={"level": "bogus", "sort": "x"})).status_code == 200
    assert (await console.client.get("/alerts", params={"cursor": "garbage"})).status_code == 200


async def test_agency_officer_sees_only_their_agency_and_no_triage(console: Console) -> None:
    q1 = await console.agency("q1")
    await console.agency("q3")
    await console.user("officer", "agency_officer", q1)
    await console.alerts(
        [make_alert(1, agency="q1", title="Q1 alert"), make_alert(2, agency="q3", title="Q3 alert")]
    )
    by_agency = {a: i for i, (a, _, _) in (await _groups(console)).items()}
    await console.login("officer")
    page = await console.client.get("/alerts", params={"agency": "q3"})  # a filter cannot widen the scope
    assert "Q1 alert" in page.text and "Q3 alert" not in page.text
    assert 'action="/alerts/bulk"' not in page.text and "data-action=" not in page.text
    assert 'href="/rules"' not in page.text and 'id="f-agency"' not in page.text
    own = await console.client.get(f"/alerts/groups/{by_agency['q1']}")
    assert own.status_code == 200 and 'class="triage"' not in own.text
    assert (await console.client.get(f"/alerts/groups/{by_agency['q3']}")).status_code == 404
    assert (await console.client.get("/rules")).status_code == 403
    forged = await console.post(f"/alerts/groups/{by_agency['q1']}/triage", {"to": "acknowledged"})
    assert forged.status_code == 403
    agencies = (await console.client.get("/registry/agencies")).text
    assert agencies.count('data-testid="agency-row"') == 1 and "q3" not in agencies


async def test_language_switch_by_query_and_link(console: Console) -> None:
    await console.user("lead", "soc_lead")
    await console.login("lead")
    en = await console.client.get("/alerts", params={"lang": "en"})
    assert 'lang="en"' in en.text and "Alert queue" in en.text
    assert "Alert queue" in (await console.client.get("/alerts")).text  # remembered in the cookie
    back = await console.client.get("/lang/vi", params={"next": "/registry/systems"})
    assert back.status_code == 303 and back.headers["location"] == "/registry/systems"
    assert "Hệ thống thông tin" in (await console.client.get("/registry/systems")).text
    away = await console.client.get("/lang/en", params={"next": "//evil.example/x"})
    assert away.headers["location"] == "/"


async def test_logout_revokes_the_session(console: Console) -> None:
    await console.user("lead", "soc_lead")
    await console.login("lead")
    token = console.client.cookies["citysoc_session"]
    r = await console.post("/logout", {})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    # The old cookie value no longer works anywhere (the session token was revoked).
    console.client.cookies.set("citysoc_session", token)
    assert (await console.client.get("/alerts")).status_code == 303
    api = await console.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


async def test_group_page_shows_occurrences_and_event_preview(console: Console) -> None:
    await console.user("ana", "soc_analyst")
    alerts = [make_alert(i, agency="q1") for i in range(3)]
    await console.alerts(alerts)
    (gid,) = await _groups(console)
    await console.login("ana")
    page = await console.client.get(f"/alerts/groups/{gid}")
    assert page.status_code == 200
    assert page.text.count("data-occ") == 3 and "Sự kiện khớp" in page.text
    assert 'data-action="acknowledged"' in page.text and 'data-action="escalated"' not in page.text
    chosen = await console.client.get(f"/alerts/groups/{gid}", params={"alert": alerts[0].alert_id})
    assert 'class="sel"' in chosen.text
    assert (await console.client.get("/alerts/groups/999999")).status_code == 404


async def test_static_files_and_unknown_paths(console: Console) -> None:
    js = await console.client.get("/static/console.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert (await console.client.get("/static/../app.py")).status_code == 404
    assert (await console.client.get("/static/nope.css")).status_code == 404


def test_origin_constant_is_the_client_base() -> None:
    assert httpx.URL(ORIGIN).host == "citysoc"
