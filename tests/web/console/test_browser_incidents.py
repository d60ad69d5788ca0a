"""Incidents by hand in a real browser (the fixtures of ``test_browser``; this module gets its own
site): create one from the list, add an alert group to it from the group page's picker, merge a second
incident into it, record a custody hand-over of its evidence, and read the history's diffs."""

from __future__ import annotations

import re
from typing import Any

import pytest

from .test_browser import (  # noqa: F401 - fixtures are found by name
    VIEWPORT,
    api_group,
    browser,
    expect,
    group_id,
    login,
    page,
    site,
    unlabelled_controls,
)

pytestmark = pytest.mark.integration


def test_incident_by_hand_linked_merged_with_custody_and_history(page: Any, site: Any) -> None:  # noqa: F811
    login(page, site, "ana", "/incidents")

    # Create an incident by hand from the list page.
    page.locator("#new summary").click()
    page.get_by_label("Tiêu đề").fill("Tấn công dò mật khẩu máy chủ web")
    page.locator("#n-severity").select_option("high")  # "Mức độ" also labels the list's filter
    page.get_by_label("Phân loại").fill("brute_force")
    page.get_by_label("Mức chia sẻ (TLP)").select_option("TLP:AMBER")
    page.get_by_label("Đơn vị bị ảnh hưởng").select_option(label="hcm-dost — Sở Khoa học và Công nghệ")
    page.get_by_label("Tóm tắt").fill("Phát hiện thủ công từ báo cáo của đơn vị.")
    assert unlabelled_controls(page) == []
    page.get_by_test_id("create-incident").click()
    page.wait_for_url(re.compile(r".*/incidents/\d+$"))
    incident_path = page.url.removeprefix(site.url)
    incident_id = int(incident_path.rsplit("/", 1)[1])
    expect(page.locator("#flash p")).to_have_text("Đã tạo sự cố.")
    created = site.admin("GET", f"/api/v1/incidents/{incident_id}")
    assert (created["severity"], created["category"], created["group_ids"]) == ("high", "brute_force", [])
    code = created["code"]

    # Add an alert group to it from the group page: the picker lists the open incident.
    web03 = group_id(site, "web03")
    page.goto(f"{site.url}/alerts/groups/{web03}")
    expect(page.locator(f'#incident-choices option[value="{code}"]')).to_have_count(1)
    assert unlabelled_controls(page) == []
    page.get_by_label("Thêm vào sự cố có sẵn").fill(code)
    page.get_by_test_id("link-incident").click()
    page.wait_for_url(f"**{incident_path}#groups")
    expect(page.locator("#flash p")).to_have_text("Đã liên kết 1 nhóm cảnh báo vào sự cố.")
    expect(page.get_by_test_id("linked-group")).to_have_count(1)
    assert api_group(site, web03)["incident_id"] == incident_id

    # Merge a second incident (holding another group) into this one.
    web04 = group_id(site, "web04")
    second = site.admin(
        "POST", "/api/v1/incidents", 201, json={"title": "Dò mật khẩu web04", "group_ids": [web04]}
    )
    page.reload()
    expect(page.locator(f'#merge-choices option[value="{second["code"]}"]')).to_have_count(1)
    page.get_by_label("Gộp sự cố khác vào sự cố này").fill(second["code"])
    page.get_by_test_id("merge").click()
    expect(page.locator("#flash p")).to_have_text("Đã gộp sự cố; 1 nhóm cảnh báo được chuyển sang.")
    expect(page.get_by_test_id("linked-group")).to_have_count(2)
    merged = site.admin("GET", f"/api/v1/incidents/{second['id']}")
    assert (merged["status"], merged["merged_into_id"]) == ("dismissed", incident_id)
    page.goto(f"{site.url}/incidents/{second['id']}")
    expect(page.get_by_test_id("merged-into")).to_contain_text(code)
    page.get_by_test_id("merged-into").get_by_role("link").click()
    page.wait_for_url(f"**{incident_path}")

    # Evidence, then a custody hand-over recorded from its log.
    page.get_by_label("Tên tệp").fill("web03-auth.log")
    page.get_by_label("SHA-256").fill("c0ffee" * 10 + "abcd")
    page.get_by_label("Người thu thập").fill("Nguyễn Văn An")
    page.get_by_role("button", name="Thêm chứng cứ").click()
    expect(page.get_by_test_id("evidence")).to_have_count(1)
    custody = page.get_by_test_id("custody")
    custody.locator("summary").click()
    expect(custody.get_by_test_id("custody-entry")).to_have_count(1)
    custody.get_by_label("Thao tác").select_option("transferred")
    custody.get_by_label("Người giữ").fill("Kho chứng cứ Sở")
    custody.get_by_label("Ghi chú").fill("Niêm phong số 12")
    page.locator("#edit summary").click()  # every form open for the label check below
    assert unlabelled_controls(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    custody.get_by_test_id("custody-add").click()
    expect(page.locator("#flash p")).to_have_text("Đã ghi nhận mục lưu giữ chứng cứ.")
    custody = page.get_by_test_id("custody")
    custody.locator("summary").click()
    entries = custody.get_by_test_id("custody-entry")
    expect(entries).to_have_count(2)
    assert "Bàn giao" in entries.nth(1).inner_text() and "Kho chứng cứ Sở" in entries.nth(1).inner_text()

    # The history says what changed, field by field.
    page.locator('button[data-move="triage"]').click()
    expect(page.get_by_test_id("incident-status")).to_have_text("Đang phân loại")
    history = page.locator("#timeline")
    expect(history.locator("li[data-field=status]").first).to_have_text("Trạng thái: Mới → Đang phân loại")
    expect(history.locator("li[data-field=linked_group_ids]")).to_have_text(
        f"Nhóm cảnh báo được liên kết: {web03}"
    )
    expect(history.locator("li[data-field=merged_incident_id]")).to_have_text(
        f"Sự cố được gộp vào: {second['code']}"
    )
    expect(history.locator("li[data-field=holder]")).to_have_text("Người giữ: Kho chứng cứ Sở")
    assert unlabelled_controls(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
