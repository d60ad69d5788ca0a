"""The history's "what changed" (``citysoc.web.console.history``) and the incident picker's reference
parsing, as pure functions: no database, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

from citysoc.api.incidents.readmodel import FIELDS
from citysoc.api.incidents.work import EVIDENCE_FIELDS, OBS_FIELDS, TASK_FIELDS
from citysoc.web.console import i18n
from citysoc.web.console.history import MAX_TEXT, Change, Names, changes, label, referenced
from citysoc.web.console.incident_lookup import parse_ref
from citysoc.web.console.views_incidents import CUSTODY_ACTIONS

VI, EN = i18n.Translator("vi"), i18n.Translator("en")
SNAPSHOT = {"title": "Dò mật khẩu", "severity": "medium", "status": "new", "category": "other"}


def _pairs(cs: list[Change]) -> list[tuple[str, str | None, str | None]]:
    return [(c.label, c.before, c.after) for c in cs]


def test_only_the_fields_that_differ_are_listed_with_translated_values() -> None:
    after = SNAPSHOT | {"severity": "high", "status": "triage"}
    assert _pairs(changes(EN, "incident.update", SNAPSHOT, after)) == [
        ("Severity", "Medium", "High"),
        ("Status", "New", "Triage"),
    ]
    assert _pairs(changes(VI, "incident.update", SNAPSHOT, after)) == [
        ("Mức độ", "Trung bình", "Cao"),
        ("Trạng thái", "Mới", "Đang phân loại"),
    ]
    assert changes(EN, "incident.update", SNAPSHOT, dict(SNAPSHOT)) == []


def test_status_is_read_in_the_family_of_the_changed_object() -> None:
    task = {"task_id": 4, "status": "open"}
    cs = changes(EN, "incident.task.update", task, task | {"status": "done"})
    assert _pairs(cs) == [("Status", "Open", "Done")]  # a task's status, and no task_id noise
    report = changes(VI, "incident.report.transition", {"status": "draft"}, {"status": "approved"})
    assert _pairs(report) == [("Trạng thái", "Bản nháp", "Đã duyệt")]
    custody = changes(EN, "incident.evidence.custody", None, {"action": "transferred", "holder": "Vault"})
    assert _pairs(custody) == [("Action", None, "Transferred"), ("Holder", None, "Vault")]


def test_extras_on_one_side_and_creations_skip_empty_values() -> None:
    linked = changes(EN, "incident.link_groups", SNAPSHOT, SNAPSHOT | {"linked_group_ids": [3, 4]})
    assert _pairs(linked) == [("Linked groups", None, "3, 4")]
    created = changes(
        EN, "incident.create", None, SNAPSHOT | {"determination": None, "serious": False, "system_ids": []}
    )
    assert [c.field for c in created] == ["title", "severity", "status", "category"]
    removed = changes(VI, "incident.unlink_group", {"group_id": 7}, None)
    assert _pairs(removed) == [("Nhóm cảnh báo", "7", None)]
    # A value that became empty on an edit is a change and is listed.
    assert _pairs(changes(EN, "incident.update", {"summary": "x"}, {"summary": None})) == [
        ("Summary", "x", "—")
    ]


def test_ids_become_codes_times_the_centre_zone_and_long_text_is_cut() -> None:
    names = Names(agencies={1: "q1", 2: "q3"}, incidents={9: "INC-2026-0009"})
    before = {"affected_agency_ids": [1], "detected_at": "2026-11-23T17:30:05+00:00", "summary": None}
    after = {
        "affected_agency_ids": [1, 2, 5],
        "detected_at": "2026-11-23T10:00:00+00:00",
        "summary": "x" * 500,
        "merged_incident_id": 9,
        "serious": True,
    }
    cs = {c.field: c for c in changes(VI, "incident.merge", before, after, names)}
    assert (cs["affected_agency_ids"].before, cs["affected_agency_ids"].after) == ("q1", "q1, q3, #5")
    assert cs["detected_at"].before == "24/11/2026 00:30:05"  # UTC+7
    assert cs["detected_at"].after == "23/11/2026 17:00:00"
    summary = cs["summary"].after or ""
    assert len(summary) == MAX_TEXT and summary.endswith("…")
    assert cs["merged_incident_id"].after == "INC-2026-0009"
    assert cs["serious"].after == "có"
    sha = changes(EN, "incident.evidence", None, {"sha256": "ab" * 32})
    assert sha[0].after == "ab" * 8 + "…"
    assert label(EN, "some_new_field") == "some new field"  # no label yet: readable, not a key


def test_referenced_ids_are_collected_for_one_lookup() -> None:
    snaps = [
        {"affected_agency_ids": [1, 2], "lead_agency_id": 3, "title": "x"},
        None,
        {"agency_id": 4, "merged_into_id": 8, "merged_incident_id": 9, "group_id": 5},
    ]
    assert referenced(snaps) == ({1, 2, 3, 4}, {8, 9})


def test_every_audited_field_and_custody_action_has_a_label_in_both_languages() -> None:
    incident_extras = (
        "affected_agency_ids",
        "coordinating_agency_ids",
        "system_ids",
        "reason",
        "linked_group_ids",
        "group_id",
        "merged_incident_id",
        "moved_group_ids",
    )
    others = ("body", "evidence_id", "action", "holder", "at", "kind", "number", "sha256", "changed")
    fields = {*FIELDS, *incident_extras, *TASK_FIELDS, *OBS_FIELDS, *EVIDENCE_FIELDS, *others}
    for lang in i18n.LANGS:
        catalog = i18n.catalog(lang)
        assert sorted(f for f in fields if f"field.{f}" not in catalog) == [], lang
        assert [a for a in ("acquired", *CUSTODY_ACTIONS) if f"custody.{a}" not in catalog] == [], lang


def test_incident_references_are_ids_or_codes_and_nothing_else() -> None:
    assert parse_ref("12") == 12 and parse_ref(" #12 ") == 12
    assert parse_ref("inc-2026-0007") == "INC-2026-0007"
    assert parse_ref("INC-2026-0007 Dò mật khẩu SSH") == "INC-2026-0007"  # pasted with its title
    for bad in ("", "   ", "0", "#0", "2147483648", "99999999999999", "INC-26-1", "'; drop", "a\x00b"):
        assert parse_ref(bad) is None, bad


def test_times_in_history_accept_what_as_dict_writes() -> None:
    at = datetime(2026, 1, 2, 1, 30, tzinfo=UTC).isoformat()
    assert changes(EN, "incident.task.create", None, {"due_at": at})[0].after == "2026-01-02 08:30:00"
    assert changes(EN, "incident.update", {"closed_at": "not a time"}, {"closed_at": None})[0].before == (
        "not a time"
    )
