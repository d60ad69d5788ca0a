"""The console in a real browser: Debian's Chromium driven by Playwright against a real
``citysoc run`` process fed with events over syslog and HTTP (``deploy/dev/console_site.py``).

Skipped with the reason when Chromium or Playwright is missing; failed instead when ``CI=true``.
One site for the module (started once, a few seconds), a fresh browser context per test.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path(os.environ.get("CITYSOC_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}


def _require(available: bool, what: str) -> None:
    """Same rule as ``tests/conftest.py`` ``require``: skip here, fail under CI=true."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (required when CI=true)", pytrace=False)
    pytest.skip(what)


def load_site_module() -> ModuleType:
    name = "citysoc_console_site"
    if (mod := sys.modules.get(name)) is not None:
        return mod
    spec = importlib.util.spec_from_file_location(name, REPO / "deploy" / "dev" / "console_site.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require(importlib.util.find_spec("playwright") is not None, "Python package playwright not installed")
    _require(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Any]:
    mod = load_site_module()
    s = mod.start_site(tmp_path_factory.mktemp("console-site"))
    yield s
    s.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, locale="vi-VN")
    context.set_default_timeout(10_000)
    p = context.new_page()
    yield p
    context.close()


def expect(target: Any) -> Any:
    """Playwright's auto-retrying assertions (they poll without ``eval``, which the console's CSP forbids)."""
    from playwright.sync_api import expect as _expect

    return _expect(target)


def login(page: Any, site: Any, user: str, next_path: str = "/alerts") -> None:
    mod = load_site_module()
    page.goto(site.url + next_path)
    assert "/login" in page.url
    page.get_by_label("Tên đăng nhập").fill(user)
    page.get_by_label("Mật khẩu").fill(mod.PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"**{next_path}")


def group_id(site: Any, host: str) -> int:
    return next(int(g["id"]) for g in site.groups if g["key"].get("host") == host)


def api_group(site: Any, gid: int) -> dict[str, Any]:
    got: dict[str, Any] = site.admin("GET", f"/api/v1/alert-groups/{gid}")
    return got


def unlabelled_controls(page: Any) -> list[str]:
    """Visible form controls without an accessible name (label, aria-label or aria-labelledby)."""
    result: list[str] = page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
            .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 120))"""
    )
    return result


def test_analyst_logs_in_sees_alerts_and_triages(page: Any, site: Any) -> None:
    page.goto(site.url + "/alerts")
    assert page.locator("html").get_attribute("lang") == "vi"  # Vietnamese by default
    login(page, site, "ana")
    rows = page.get_by_test_id("group-row")
    assert rows.count() == len(site.groups)
    assert page.get_by_text("SSH Authentication Failures").count() == 4
    assert unlabelled_controls(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]  # no sideways scroll

    # Keyboard: j/k move the current row.
    page.locator("body").press("j")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    assert "cur" in (rows.nth(1).get_attribute("class") or "")
    page.keyboard.press("k")
    assert "cur" in (rows.nth(0).get_attribute("class") or "")

    # One group: open it, see the matched event, acknowledge (a) and escalate (e) from the keyboard.
    web04 = group_id(site, "web04")
    page.locator(f'tr[data-id="{web04}"] a[data-open]').click()
    page.wait_for_url(lambda url: f"/alerts/groups/{web04}?" in url)
    assert page.get_by_test_id("preview-raw").first.inner_text().count("Failed password") == 1
    assert page.locator("tr[data-occ]").count() == 4
    assert page.get_by_test_id("group-status").inner_text() == "Mới"
    page.keyboard.press("a")
    expect(page.get_by_test_id("group-status")).to_have_text("Đã tiếp nhận")
    page.keyboard.press("e")
    expect(page.get_by_test_id("group-status")).to_have_text("Đã chuyển xử lý")
    assert api_group(site, web04)["status"] == "escalated"
    assert page.locator("form.triage").count() == 0  # escalated is final here: nothing left to offer

    # Dismiss with a reason.
    web03 = group_id(site, "web03")
    page.goto(f"{site.url}/alerts/groups/{web03}")
    page.get_by_label("Lý do").select_option("benign")
    page.get_by_role("button", name="Bỏ qua").click()
    expect(page.get_by_test_id("group-status")).to_have_text("Đã bỏ qua")
    assert page.get_by_test_id("group-reason").inner_text() == "Vô hại"
    assert (api_group(site, web03)["status"], api_group(site, web03)["dismiss_reason"]) == (
        "dismissed",
        "benign",
    )

    # Bulk: select the two remaining new SSH groups, acknowledge them together.
    page.goto(f"{site.url}/alerts?status=new&agency=hcm-dost")
    assert page.get_by_test_id("group-row").count() == 2
    for box in page.locator("input[data-select]").all():
        box.check()
    assert page.locator("[data-selected-count]").inner_text() == "Đã chọn 2"
    page.get_by_test_id("bulk-acknowledged").click()
    page.wait_for_selector("#flash p")
    assert page.locator("#flash p").inner_text() == "Đã tiếp nhận 2, không đổi 0."
    for host in ("web01", "web02"):
        assert api_group(site, group_id(site, host))["status"] == "acknowledged"

    # Keyboard on the queue: j selects the first row, a acknowledges it.
    page.goto(f"{site.url}/alerts?agency=q1&status=new&sort=-level")
    first = page.get_by_test_id("group-row").first
    gid = int(first.get_attribute("data-id") or 0)
    page.keyboard.press("j")
    page.keyboard.press("a")
    page.wait_for_selector("#flash p")
    assert api_group(site, gid)["status"] == "acknowledged"


def test_registry_monitoring_and_rules_pages(page: Any, site: Any) -> None:
    login(page, site, "lead", "/registry/systems")
    rows = page.get_by_test_id("system-row")
    assert rows.count() == 3
    mail = page.locator("tr", has_text="Thư điện tử công vụ")
    assert "hcm-dost" in mail.inner_text() and "30/06/2026" in mail.inner_text()  # Vietnamese date format
    page.goto(site.url + "/monitoring")
    states = {
        r.get_attribute("data-system"): r.get_attribute("data-state")
        for r in page.get_by_test_id("coverage-row").all()
    }
    assert states["mail"] == "heard" and states["q1-portal"] == "heard" and states["q3-hr"] == "never"
    page.goto(site.url + "/rules")
    ssh = page.locator("tr[data-testid=rule-row]", has_text="SSH Authentication Failures")
    assert ssh.locator("td.num").nth(1).inner_text() == "10"  # 1+2+3+4 failures, one hit each
    # Loaded: the stream rules of detections/ (correlation rules are compiled separately).
    docs = [yaml.safe_load(f.read_text()) for f in (REPO / "detections").rglob("*.yml")]
    stream = sum(1 for d in docs if "detection" in d and "correlation" not in d)
    assert int(page.get_by_test_id("rules-summary").locator("strong").first.inner_text()) == stream
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]


def test_language_switch(page: Any, site: Any) -> None:
    login(page, site, "lead")
    assert page.get_by_role("heading", level=1).inner_text() == "Hàng đợi cảnh báo"
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.get_by_role("heading", level=1).inner_text() == "Alert queue"
    page.get_by_role("link", name="Information systems").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Information systems"  # remembered
    assert "2026-06-30" in page.locator("tr", has_text="mail").first.inner_text()
    page.get_by_role("link", name="Tiếng Việt").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    assert page.get_by_role("heading", level=1).inner_text() == "Hệ thống thông tin"


def test_agency_officer_sees_only_their_agency_and_no_forbidden_buttons(page: Any, site: Any) -> None:
    login(page, site, "officer")
    rows = page.get_by_test_id("group-row")
    q1 = [g for g in site.groups if g["agency"] == "q1"]
    assert rows.count() == len(q1) == 2
    assert all("q1" in r.locator("td").nth(2).inner_text() for r in rows.all())
    assert page.locator("#bulk").count() == 0 and page.locator("button[data-action]").count() == 0
    assert page.locator("input[data-select]").count() == 0 and page.locator("#f-agency").count() == 0
    nav = page.get_by_role("navigation", name="Chính")
    assert nav.get_by_role("link", name="Luật phát hiện").count() == 0
    page.locator("a[data-open]").first.click()
    assert page.locator("form.triage").count() == 0
    other = next(g for g in site.groups if g["agency"] != "q1")
    response = page.goto(f"{site.url}/alerts/groups/{other['id']}")
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Không tìm thấy"
    page.goto(site.url + "/registry/systems")
    assert [r.locator("code").inner_text() for r in page.get_by_test_id("system-row").all()] == ["q1-portal"]
    page.goto(site.url + "/monitoring")
    assert {r.get_attribute("data-system") for r in page.get_by_test_id("coverage-row").all()} == {
        "q1-portal"
    }
    assert page.goto(site.url + "/rules").status == 403


def _logout(page: Any) -> None:
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/login**")


def test_incident_flow_from_triage_to_the_downloaded_end_report(page: Any, site: Any) -> None:
    """Issue 7, acceptance 1: triage a group of alerts, open an incident from them, assign a task to
    an agency, the agency's officer completes it, the SOC closes the incident and downloads form 04."""
    login(page, site, "ana")
    # Triage: the q1 groups (Sysmon detections on the district portal), selected and acknowledged.
    page.goto(f"{site.url}/alerts?agency=q1")
    q1 = [g for g in site.groups if g["agency"] == "q1"]
    boxes = page.locator("input[data-select]")
    assert boxes.count() == len(q1) == 2
    for box in boxes.all():
        box.check()
    page.get_by_test_id("bulk-acknowledged").click()
    page.wait_for_selector("#flash p")
    assert all(api_group(site, g["id"])["status"] in ("acknowledged", "escalated") for g in q1)

    # Open an incident from the selected groups.
    for box in page.locator("input[data-select]").all():
        box.check()
    page.get_by_test_id("bulk-incident").click()
    page.wait_for_url("**/incidents/*")
    incident_path = page.url.removeprefix(site.url)
    incident_id = int(incident_path.rsplit("/", 1)[1])
    expect(page.locator("#flash p")).to_have_text("Đã mở sự cố từ 2 nhóm cảnh báo.")
    assert page.get_by_test_id("linked-group").count() == 2
    assert {api_group(site, g["id"])["incident_id"] for g in q1} == {incident_id}
    assert unlabelled_controls(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    for to, shown in (("triage", "Đang phân loại"), ("in_progress", "Đang xử lý")):
        page.locator(f'button[data-move="{to}"]').click()
        expect(page.get_by_test_id("incident-status")).to_have_text(shown)

    # Assign a mandatory task to the district with a due date.
    page.get_by_label("Nhiệm vụ", exact=True).fill("Cô lập máy trạm ws-017")
    page.get_by_label("Giao cho đơn vị").select_option(label="q1 — UBND Quận 1")
    page.get_by_label("Hạn", exact=True).fill("2030-01-02T08:30")
    page.get_by_role("button", name="Giao nhiệm vụ").click()
    expect(page.get_by_test_id("task-row")).to_have_count(1)
    assert "02/01/2030 08:30:00" in page.get_by_test_id("task-row").inner_text()  # Ho Chi Minh time
    tasks = site.admin("GET", "/api/v1/tasks", params={"incident_id": incident_id})["items"]
    assert [(t["status"], t["mandatory"], t["due_at"][:16]) for t in tasks] == [
        ("open", True, "2030-01-02T01:30")
    ]

    # The district's officer completes it from their task list.
    _logout(page)
    login(page, site, "officer", "/tasks")
    row = page.get_by_test_id("task-row")
    expect(row).to_have_count(1)
    assert "Cô lập máy trạm ws-017" in row.inner_text()
    page.get_by_label("Ghi chú kết quả").fill("Đã cô lập và quét lại máy")
    page.get_by_test_id("task-done").click()
    expect(page.get_by_test_id("empty")).to_be_visible()
    page.goto(site.url + incident_path)
    assert page.locator("button[data-move]").count() == 0  # officers move no incident
    assert page.get_by_test_id("task-status").inner_text() == "Đã xong"

    # Back to the SOC: determination and summary, resolve, close, end report (form 04).
    _logout(page)
    login(page, site, "lead", incident_path)
    page.locator("#edit summary").click()
    page.get_by_label("Kết luận").select_option("true_positive")
    page.get_by_label("Tóm tắt", exact=True).fill("Mã PowerShell mã hóa trên ws-017; máy đã được cô lập.")
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_test_id("determination")).to_have_text("Sự cố thật")
    page.locator('button[data-move="resolved"]').click()
    expect(page.get_by_test_id("incident-status")).to_have_text("Đã khắc phục")
    expect(page.get_by_test_id("close-needs")).to_have_count(0)  # nothing missing any more
    page.locator('button[data-move="closed"]').click()
    expect(page.get_by_test_id("incident-status")).to_have_text("Đã đóng")
    assert site.admin("GET", f"/api/v1/incidents/{incident_id}")["status"] == "closed"

    page.get_by_label("Loại báo cáo").select_option("end")
    page.get_by_role("button", name="Tạo báo cáo").click()
    expect(page.get_by_test_id("report-row")).to_have_count(1)
    page.locator('button[data-report-move="approved"]').click()
    expect(page.get_by_test_id("report-status")).to_have_text("Đã duyệt")
    page.locator('button[data-report-move="sent"]').click()
    expect(page.get_by_test_id("report-status")).to_have_text("Đã gửi")
    with page.expect_download() as info:
        page.get_by_test_id("report-download").click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    code = site.admin("GET", f"/api/v1/incidents/{incident_id}")["code"]
    assert download.suggested_filename == f"{code}-R1.txt"
    assert text.startswith("END-OF-RESPONSE REPORT (Circular 20/2017/TT-BTTTT, form 04)")
    assert code in text and "Mã PowerShell mã hóa trên ws-017" in text
    (report,) = site.admin("GET", f"/api/v1/incidents/{incident_id}/reports")
    assert report["status"] == "sent" and report["document"] == text
