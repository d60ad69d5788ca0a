"""The alert queue's flat view, keyboard preview of the matched event and saved views in a real browser
(Debian's Chromium via Playwright) against its own ``citysoc run`` demo site (the fixtures of
``test_browser.py``, bound here so this module gets a fresh site of its own)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from . import test_browser
from .test_browser import VIEWPORT, api_group, expect, load_site_module, login, unlabelled_controls

pytestmark = pytest.mark.integration
browser = test_browser.browser
site = test_browser.site
page = test_browser.page


def _no_sideways_scroll(p: Any) -> bool:
    width: int = p.evaluate("document.documentElement.scrollWidth")
    return width <= VIEWPORT["width"]


def test_flat_view_keyboard_preview_triage_and_a_saved_default_view(page: Any, site: Any) -> None:
    mod = load_site_module()
    login(page, site, "ana")
    page.get_by_test_id("view-flat").click()
    page.wait_for_url("**/alerts?view=flat*")
    rows = page.get_by_test_id("alert-row")
    expect(rows).to_have_count(mod.EXPECTED_HITS)  # one row per alert, not per group
    assert page.get_by_test_id("group-row").count() == 0
    assert unlabelled_controls(page) == []
    assert _no_sideways_scroll(page)

    # p previews the current row's matched event; j/k move the preview along; p and Escape close it.
    panel = page.get_by_test_id("preview-panel")
    expect(panel).to_be_hidden()
    page.locator("body").press("j")
    page.keyboard.press("p")
    expect(panel).to_be_visible()
    first, second = rows.nth(0).get_attribute("data-id"), rows.nth(1).get_attribute("data-id")
    expect(panel.get_by_test_id("event-preview")).to_have_attribute("data-alert", first or "")
    raw = panel.get_by_test_id("preview-raw").first
    expect(raw).not_to_be_empty()
    expect(panel.get_by_test_id("preview-source").first).to_contain_text("(")
    assert _no_sideways_scroll(page)
    page.keyboard.press("j")
    expect(panel.get_by_test_id("event-preview")).to_have_attribute("data-alert", second or "")
    assert "cur" in (rows.nth(1).get_attribute("class") or "")
    page.keyboard.press("p")
    expect(panel).to_be_hidden()
    page.keyboard.press("p")
    expect(panel.get_by_test_id("event-preview")).to_have_attribute("data-alert", second or "")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    page.keyboard.press("k")
    assert "cur" in (rows.nth(0).get_attribute("class") or "")

    # x selects the current alert's group, a acknowledges it (the flat view triages groups).
    ssh = page.locator('tr[data-testid="alert-row"]', has_text="SSH").first
    gid = int(ssh.get_attribute("data-group") or 0)
    index = next(i for i, r in enumerate(rows.all()) if r.get_attribute("data-group") == str(gid))
    for _ in range(index):
        page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("[data-selected-count]")).to_have_text("Đã chọn 1")
    page.keyboard.press("a")
    page.wait_for_selector("#flash p")
    assert api_group(site, gid)["status"] == "acknowledged"
    assert "view=flat" in page.url  # back in the same view

    # Filter, then save the view as the default; a bare /alerts opens it, also after a reload.
    page.get_by_label("Đơn vị").select_option("hcm-dost")
    page.get_by_role("button", name="Lọc", exact=True).click()
    page.wait_for_url(re.compile(r".*view=flat.*agency=hcm-dost.*"))
    ssh_hits = rows.count()
    assert 0 < ssh_hits < mod.EXPECTED_HITS
    page.get_by_test_id("manage-views").locator("summary").click()
    page.get_by_label("Tên bộ lọc").fill("SSH của Sở")
    page.get_by_label("Đặt làm mặc định").check()
    assert unlabelled_controls(page) == []
    page.get_by_test_id("save-view").click()
    expect(page.locator("#flash p")).to_have_text("Đã lưu bộ lọc.")
    chip = page.get_by_test_id("saved-view")
    expect(chip).to_have_text("SSH của Sở")
    expect(chip).to_have_attribute("aria-current", "true")

    page.goto(site.url + "/alerts")
    page.wait_for_url(re.compile(r".*/alerts\?view=flat&agency=hcm-dost$"))
    expect(rows).to_have_count(ssh_hits)
    page.reload()
    expect(rows).to_have_count(ssh_hits)
    page.get_by_test_id("view-grouped").click()
    page.wait_for_url("**/alerts?view=grouped*")
    assert page.get_by_test_id("group-row").count() > 0
    page.get_by_test_id("saved-view").click()
    page.wait_for_url(re.compile(r".*/alerts\?view=flat&agency=hcm-dost$"))
    expect(rows).to_have_count(ssh_hits)
    assert _no_sideways_scroll(page)


def test_grouped_view_preview_without_leaving_the_queue(page: Any, site: Any) -> None:
    login(page, site, "lead", "/alerts?view=grouped")
    rows = page.get_by_test_id("group-row")
    assert rows.count() > 0
    row = rows.nth(2)
    row.locator("a[data-preview]").click()  # with JavaScript: the panel, not another page
    panel = page.get_by_test_id("preview-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("preview-group")).to_have_attribute(
        "href", re.compile(rf"^/alerts/groups/{row.get_attribute('data-id')}\?")
    )
    assert "/alerts?view=grouped" in page.url
    panel.get_by_role("button", name="Đóng xem trước").click()
    expect(panel).to_be_hidden()
    assert unlabelled_controls(page) == [] and _no_sideways_scroll(page)


def test_bulk_add_selected_groups_to_an_existing_incident_with_enter(page: Any, site: Any) -> None:
    first, second = site.groups[0]["id"], site.groups[1]["id"]
    incident = site.admin("POST", "/api/v1/incidents", 201, json={"title": "Dò quét", "group_ids": [first]})
    login(page, site, "ana", "/alerts?view=grouped&sort=-count")
    expect(page.locator(f'#open-incidents option[value="{incident["code"]}"]')).to_have_count(1)
    page.locator(f'tr[data-id="{second}"] input[data-select]').check()
    field = page.get_by_label("Sự cố đã có")
    field.fill(incident["code"])
    field.press("Enter")  # the link button, not the bar's first button (acknowledge)
    page.wait_for_url(f"**/incidents/{incident['id']}*")  # acknowledging would have gone back to /alerts
    assert api_group(site, second)["incident_id"] == incident["id"]
