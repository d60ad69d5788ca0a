"""Incidents by hand, alert groups linked to and unlinked from an existing incident, merging, the chain
of custody of evidence, and the history's "what changed", all through the console's forms with a
cookie jar (SQLite and PostgreSQL). Every write is refused to roles without it, and scoped."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import sqlalchemy as sa

from citysoc.db import AlertGroup, CustodyEntry, Evidence, Incident
from citysoc.db.enums import GroupStatus, IncidentStatus, Severity

from .conftest import Console, make_alert

SHA = "ab" * 32


def text_of(page: str) -> str:
    """The page's visible text, tags dropped and whitespace collapsed (to read diffs as a user does)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def _setup(console: Console) -> tuple[int, int, list[int], list[int]]:
    """Agencies q1 and q3, an analyst, a lead, an auditor, one officer per agency; three alert groups
    of q1 and one of q3."""
    q1 = await console.agency("q1")
    q3 = await console.agency("q3")
    await console.user("ana", "soc_analyst")
    await console.user("aud", "auditor")
    await console.user("off1", "agency_officer", q1)
    await console.user("off3", "agency_officer", q3)
    await console.alerts([make_alert(i, agency="q1", host=f"h{i}") for i in range(3)])
    await console.alerts([make_alert(9, agency="q3", host="x9")])
    async with console.db.session() as s:
        rows = (await s.execute(sa.select(AlertGroup.id, AlertGroup.agency).order_by(AlertGroup.id))).all()
    return q1, q3, [i for i, a in rows if a == "q1"], [i for i, a in rows if a == "q3"]


async def _incident(console: Console, **body: Any) -> dict[str, Any]:
    created: dict[str, Any] = await console.api("POST", "/api/v1/incidents", 201, json=body)
    return created


async def _row(console: Console, incident_id: int) -> Incident:
    async with console.db.session() as s:
        row = await s.get(Incident, incident_id)
        assert row is not None
        return row


async def _owner(console: Console, group_id: int) -> int | None:
    async with console.db.session() as s:
        return await s.scalar(sa.select(AlertGroup.incident_id).where(AlertGroup.id == group_id))


async def _count(console: Console) -> int:
    async with console.db.session() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(Incident)) or 0)


async def _follow(console: Console, r: httpx.Response) -> str:
    assert r.status_code == 303, (r.status_code, r.text[:300])
    return (await console.client.get(r.headers["location"])).text


async def test_create_an_incident_by_hand(console: Console) -> None:
    q1, _, _, _ = await _setup(console)
    assert (await console.login("ana")).status_code == 303
    listing = (await console.client.get("/incidents")).text
    assert 'data-testid="create-incident"' in listing and 'name="affected"' in listing
    assert 'value="TLP:RED"' in listing

    r = await console.post(
        "/incidents",
        {
            "title": "Lộ lọt dữ liệu cổng dịch vụ công",
            "severity": "high",
            "category": "data_leak",
            "tlp": "TLP:RED",
            "summary": "Phát hiện qua báo cáo của người dân.",
            "affected": [q1],
        },
        page="/incidents",
    )
    assert r.status_code == 303
    incident_id = int(r.headers["location"].rsplit("/", 1)[1])
    row = await _row(console, incident_id)
    assert (row.title, row.severity, row.category, row.tlp, row.status) == (
        "Lộ lọt dữ liệu cổng dịch vụ công",
        Severity.HIGH,
        "data_leak",
        "TLP:RED",
        IncidentStatus.NEW,
    )
    assert row.summary == "Phát hiện qua báo cáo của người dân."
    page = await _follow(console, r)
    assert "Đã tạo sự cố." in page and row.code in page and "q1 — Agency q1" in page

    # Refused input comes back as a message on the list, and creates nothing.
    before = await _count(console)
    for bad in ({"title": "  "}, {"title": "x", "tlp": "TLP:PURPLE"}, {"title": "x", "severity": "extreme"}):
        r = await console.post("/incidents", bad, page="/incidents")
        assert r.status_code == 303 and r.headers["location"] == "/incidents#new"
        assert "Chưa tạo được sự cố" in (await console.client.get("/incidents")).text
    assert (await _count(console)) == before

    # The q1 officer sees it (q1 is affected); the q3 officer cannot reach it.
    assert (await console.login("off1")).status_code == 303
    assert (await console.client.get(f"/incidents/{incident_id}")).status_code == 200
    assert (await console.login("off3")).status_code == 303
    assert (await console.client.get(f"/incidents/{incident_id}")).status_code == 404

    # Officers and auditors get no form and are refused when posting anyway.
    for user in ("off1", "aud"):
        assert (await console.login(user)).status_code == 303
        assert 'data-testid="create-incident"' not in (await console.client.get("/incidents")).text
        r = await console.post("/incidents", {"title": "by " + user, "severity": "low"}, page="/incidents")
        assert r.status_code == 403
    assert (await _count(console)) == before


async def test_link_groups_to_an_existing_incident(console: Console) -> None:
    _, _, q1_groups, q3_groups = await _setup(console)
    g0, g1, g2 = q1_groups
    first = await _incident(console, title="Dò mật khẩu", group_ids=[g0])
    other = await _incident(console, title="Quét cổng quận 3", group_ids=q3_groups)
    assert (await console.login("ana")).status_code == 303

    # The group page offers "add to incident" with the open incidents the user can see, newest first.
    group_page = (await console.client.get(f"/alerts/groups/{g1}")).text
    assert 'action="/incidents/link-groups"' in group_page
    picker = group_page.split('<datalist id="incident-choices">')[1].split("</datalist>")[0]
    assert re.findall(r'<option value="([^"]+)">', picker) == [other["code"], first["code"]]
    assert f"{first['code']} — Dò mật khẩu" in picker
    # A group already in an incident is not offered linking.
    assert 'action="/incidents/link-groups"' not in (await console.client.get(f"/alerts/groups/{g0}")).text

    # Link two groups by the code (typed in lower case, pasted with its title).
    back = f"/alerts/groups/{g1}"
    r = await console.post(
        "/incidents/link-groups",
        {"ids": [g1, g2], "incident": f"{first['code'].lower()} Dò mật khẩu", "back": back},
        page=back,
    )
    assert r.headers["location"] == f"/incidents/{first['id']}#groups"
    page = await _follow(console, r)
    assert "Đã liên kết 2 nhóm cảnh báo vào sự cố." in page
    assert page.count('data-testid="linked-group"') == 3
    assert {await _owner(console, g) for g in (g0, g1, g2)} == {first["id"]}
    async with console.db.session() as s:
        assert (await s.get(AlertGroup, g1)).status == GroupStatus.ESCALATED  # type: ignore[union-attr]
    # By number, again: nothing new is linked, and the message says so.
    r = await console.post("/incidents/link-groups", {"ids": [g1], "incident": f"#{first['id']}"}, page=back)
    assert "Đã liên kết 0 nhóm cảnh báo vào sự cố." in await _follow(console, r)

    # Refusals come back to `back` as a message, never an error page, and change nothing.
    cases = [
        ({"ids": q3_groups, "incident": first["code"]}, "thuộc một sự cố khác"),
        ({"ids": [g1], "incident": "INC-1999-9999"}, "Không tìm thấy sự cố này"),
        ({"ids": [g1], "incident": "'; drop table incidents; --"}, "Không tìm thấy sự cố này"),
        ({"ids": [g1], "incident": "99999999999999"}, "Không tìm thấy sự cố này"),
        ({"ids": [999_999], "incident": first["code"]}, "Không tìm thấy một số nhóm cảnh báo"),
        ({"incident": first["code"]}, "Hãy chọn ít nhất một nhóm cảnh báo"),
    ]
    for data, message in cases:
        r = await console.post("/incidents/link-groups", {**data, "back": back}, page=back)
        assert r.status_code == 303 and r.headers["location"] == back, data
        assert message in (await console.client.get(back)).text, data
    assert await _owner(console, q3_groups[0]) == other["id"]
    # A foreign `back` is never followed.
    r = await console.post(
        "/incidents/link-groups", {"ids": [g1], "incident": "nope", "back": "//evil.example/"}, page=back
    )
    assert r.headers["location"] == "/alerts"

    # A closed (here: dismissed) incident takes no groups until reopened.
    path = f"/incidents/{other['id']}"
    await console.post(f"{path}/transition", {"to": "dismissed", "reason": "trùng lặp"}, page=path)
    r = await console.post("/incidents/link-groups", {"ids": [g1], "incident": other["code"]}, page=back)
    assert "Sự cố đã đóng hoặc đã bỏ qua" in await _follow(console, r)
    assert await _owner(console, g1) == first["id"]

    # Officers and auditors are offered no linking and refused when posting.
    for user in ("off1", "aud"):
        assert (await console.login(user)).status_code == 303
        page = (await console.client.get(f"/alerts/groups/{g1}")).text
        assert "link-groups" not in page and "incident-links.js" not in page
        r = await console.post(
            "/incidents/link-groups", {"ids": [g1], "incident": first["code"]}, page="/tasks"
        )
        assert r.status_code == 403
    # Scoping: the q3 officer's list (which fills the picker) never names the q1 incident.
    assert (await console.login("off3")).status_code == 303
    listed = (await console.client.get("/incidents")).text  # all states: q3's dismissed one shows
    assert re.findall(r'data-incident-code="([^"]+)"', listed) == [other["code"]]


async def test_unlink_and_merge_from_the_incident_page(console: Console) -> None:
    _, _, (g0, g1, g2), _ = await _setup(console)
    a = await _incident(console, title="Sự cố A", group_ids=[g0, g1])
    b = await _incident(console, title="Sự cố B", group_ids=[g2])
    a_path, b_path = f"/incidents/{a['id']}", f"/incidents/{b['id']}"
    assert (await console.login("ana")).status_code == 303
    page = (await console.client.get(a_path)).text
    assert page.count('data-testid="unlink-group"') == 2
    assert f'<option value="{b["code"]}">Sự cố B</option>' in page  # the merge picker
    assert f'<option value="{a["code"]}"' not in page  # never itself

    r = await console.post(f"{a_path}/groups/{g1}/unlink", {}, page=a_path)
    assert r.headers["location"] == f"{a_path}#groups"
    assert "nhóm trở lại hàng đợi" in await _follow(console, r)
    async with console.db.session() as s:
        g = await s.get(AlertGroup, g1)
        assert g is not None and (g.incident_id, g.status) == (None, GroupStatus.ACKNOWLEDGED)
    # A group not in this incident: not found.
    assert (await console.post(f"{a_path}/groups/{g2}/unlink", {}, page=a_path)).status_code == 404

    for other, message in (
        (a["code"], "chính nó"),
        ("INC-1999-0001", "Không tìm thấy sự cố cần gộp"),
        ("", "Không tìm thấy sự cố cần gộp"),
    ):
        r = await console.post(f"{a_path}/merge", {"other": other}, page=a_path)
        assert r.headers["location"] == f"{a_path}#merge"
        assert message in await _follow(console, r)

    r = await console.post(f"{a_path}/merge", {"other": b["code"]}, page=a_path)
    assert "Đã gộp sự cố; 1 nhóm cảnh báo được chuyển sang." in await _follow(console, r)
    merged = await _row(console, b["id"])
    assert (merged.status, merged.merged_into_id) == (IncidentStatus.DISMISSED, a["id"])
    assert await _owner(console, g2) == a["id"]
    # The merged incident says where it went, with a link, and offers no more linking or merging.
    b_page = (await console.client.get(b_path)).text
    assert 'data-testid="merged-into"' in b_page and f'href="{a_path}"><code>{a["code"]}</code>' in b_page
    assert 'data-testid="unlink-group"' not in b_page and f'action="{b_path}/merge"' not in b_page
    # Merging a dismissed incident, or unlinking from it, is refused with a message.
    r = await console.post(f"{a_path}/merge", {"other": b["code"]}, page=a_path)
    assert "Chỉ gộp được các sự cố đang mở" in await _follow(console, r)
    r = await console.post(f"{b_path}/groups/{g2}/unlink", {}, page=b_path)
    assert "Thay đổi bị từ chối" in await _follow(console, r)
    assert await _owner(console, g2) == a["id"]
    # The history of A names what moved in, by code.
    history = text_of((await console.client.get(a_path)).text)
    assert f"Sự cố được gộp vào: {b['code']}" in history
    assert f"Nhóm cảnh báo chuyển sang: {g2}" in history
    assert f"Nhóm cảnh báo: {g1} (đã gỡ)" in history

    # Officers and auditors see no unlink or merge controls, and are refused.
    for user in ("off1", "aud"):
        assert (await console.login(user)).status_code == 303
        page = (await console.client.get(a_path)).text
        assert 'data-testid="unlink-group"' not in page and f'action="{a_path}/merge"' not in page
        assert (await console.post(f"{a_path}/groups/{g0}/unlink", {}, page=a_path)).status_code == 403
        assert (await console.post(f"{a_path}/merge", {"other": "1"}, page=a_path)).status_code == 403
    assert await _owner(console, g0) == a["id"]


async def test_chain_of_custody_of_evidence(console: Console) -> None:
    q1, _, (g0, _, _), _ = await _setup(console)
    inc = await _incident(console, title="Mã độc", group_ids=[g0], affected_agency_ids=[q1])
    path = f"/incidents/{inc['id']}"
    assert (await console.login("ana")).status_code == 303
    await console.post(
        f"{path}/evidence",
        {"file_name": "ws017.mem", "sha256": SHA, "acquired_by": "Trần B", "acquired_at": "2025-01-02T08:00"},
        page=path,
    )
    async with console.db.session() as s:
        evidence_id = (await s.scalars(sa.select(Evidence.id))).one()
    page = (await console.client.get(path)).text
    assert page.count('data-testid="custody-entry"') == 1
    assert "02/01/2025 08:00:00 Thu thập Trần B ghi bởi" in text_of(page)  # opened as acquired
    form = f'action="{path}/evidence/{evidence_id}/custody"'
    assert form in page

    r = await console.post(
        f"{path}/evidence/{evidence_id}/custody",
        {
            "action": "transferred",
            "holder": "Kho chứng cứ Sở",
            "at": "2025-01-03T09:15",
            "note": "niêm phong",
        },
        page=path,
    )
    assert r.headers["location"] == f"{path}#evidence-{evidence_id}"
    page = await _follow(console, r)
    assert "Đã ghi nhận mục lưu giữ chứng cứ." in page
    assert page.count('data-testid="custody-entry"') == 2
    shown = text_of(page)
    assert "03/01/2025 09:15:00 Bàn giao Kho chứng cứ Sở ghi bởi" in shown and "niêm phong" in shown
    # Before the acquisition, or without a holder, or an action the API cannot take: refused.
    for data, message in (
        (
            {"action": "stored", "holder": "Kho", "at": "2025-01-01T00:00"},
            "không thể trước thời điểm thu thập",
        ),
        ({"action": "stored", "holder": "  "}, "Thông tin lưu giữ không hợp lệ"),
        ({"action": "Stored!", "holder": "Kho"}, "Thông tin lưu giữ không hợp lệ"),
    ):
        r = await console.post(f"{path}/evidence/{evidence_id}/custody", data, page=path)
        assert message in await _follow(console, r), data
    async with console.db.session() as s:
        entries = list(await s.scalars(sa.select(CustodyEntry).order_by(CustodyEntry.at)))
    assert [(e.action, e.holder) for e in entries] == [
        ("acquired", "Trần B"),
        ("transferred", "Kho chứng cứ Sở"),
    ]
    assert entries[1].recorded_by.endswith(":ana")
    # The history shows the custody entry's fields.
    assert "Thao tác: Bàn giao" in text_of((await console.client.get(path)).text)

    # The q1 officer contributes (incident.contribute); the auditor only reads; q3 cannot reach it.
    assert (await console.login("off1")).status_code == 303
    assert form in (await console.client.get(path)).text
    r = await console.post(
        f"{path}/evidence/{evidence_id}/custody", {"action": "examined", "holder": "Phòng CNTT Q1"}, page=path
    )
    assert r.status_code == 303
    assert (await console.login("aud")).status_code == 303
    page = (await console.client.get(path)).text
    assert page.count('data-testid="custody-entry"') == 3 and form not in page
    r = await console.post(
        f"{path}/evidence/{evidence_id}/custody", {"action": "stored", "holder": "x"}, page=path
    )
    assert r.status_code == 403
    assert (await console.login("off3")).status_code == 303
    r = await console.post(
        f"{path}/evidence/{evidence_id}/custody", {"action": "stored", "holder": "x"}, page="/tasks"
    )
    assert r.status_code == 404
    async with console.db.session() as s:
        assert len((await s.scalars(sa.select(CustodyEntry))).all()) == 3


async def test_history_shows_what_each_entry_changed(console: Console) -> None:
    q1, _, (g0, g1, g2), _ = await _setup(console)
    inc = await _incident(
        console, title="Dò mật khẩu", severity="medium", group_ids=[g0], affected_agency_ids=[q1]
    )
    path = f"/incidents/{inc['id']}"
    assert (await console.login("ana")).status_code == 303
    await console.post(
        f"{path}/edit", {"title": "Dò mật khẩu SSH", "severity": "high", "category": "other"}, page=path
    )
    await console.post(f"{path}/transition", {"to": "triage"}, page=path)
    await console.post("/incidents/link-groups", {"ids": [g1, g2], "incident": inc["code"]}, page=path)

    shown = text_of((await console.client.get(path)).text)
    assert "Mức độ: Trung bình → Cao" in shown
    assert "Tiêu đề: Dò mật khẩu → Dò mật khẩu SSH" in shown
    assert "Trạng thái: Mới → Đang phân loại" in shown
    assert f"Nhóm cảnh báo được liên kết: {g1}, {g2}" in shown
    assert "Phân loại: other → other" not in shown  # unchanged fields are not listed
    # The creation lists what was set (not the empty fields), agencies by code.
    assert "Mã sự cố: " + inc["code"] in shown and "Đơn vị bị ảnh hưởng: q1" in shown
    assert "Kết luận: —" not in shown
    english = text_of((await console.client.get(path + "?lang=en")).text)
    assert "Severity: Medium → High" in english and "Status: New → Triage" in english
    assert f"Linked groups: {g1}, {g2}" in english
