"""Engine: loading (errors isolated per rule/file), pipelines, logsource gating, index, hits."""

from __future__ import annotations

from pathlib import Path

from citysoc.detection.engine import Engine

from .support import SYSMON, make_event

WINDOWS_PROC = """
title: Encoded PowerShell
id: 5d1e8c43-6f0a-4c43-9a55-1b0c1b6f7a01
status: test
level: high
tags: [attack.execution, attack.t1059.001]
logsource:
  product: windows
  category: process_creation
detection:
  sel:
    Image|endswith: '\\powershell.exe'
    CommandLine|contains: ' -enc '
  condition: sel
"""

LINUX_SSHD = """
title: SSH failure
id: 0b7e9d2a-7d55-4e8e-9c1c-3f4a3b2e1c02
logsource:
  product: linux
  service: sshd
detection:
  keywords:
    - 'Failed password'
  condition: keywords
"""

WINDOWS_SECURITY = """
title: Failed logon
id: 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b03
logsource:
  product: windows
  service: security
detection:
  sel:
    EventID: 4625
  condition: sel
"""


def write(dir: Path, name: str, text: str) -> Path:
    p = dir / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def sysmon_proc(event_id: int | str = 1, **extra: object) -> dict[str, object]:
    return {
        "Channel": SYSMON,
        "EventID": event_id,
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "CommandLine": "powershell -enc SQBFAFgA",
        **extra,
    }


# ---------------------------------------------------------------------------------------- loading


def test_load_reports_broken_rules_and_keeps_the_others(tmp_path: Path) -> None:
    write(tmp_path, "good/win.yml", WINDOWS_PROC)
    write(tmp_path, "good/lnx.yaml", LINUX_SSHD)
    write(tmp_path, "bad/not_yaml.yml", "title: [unclosed\n")
    write(tmp_path, "bad/unknown_modifier.yml", WINDOWS_PROC.replace("|contains", "|containz"))
    write(
        tmp_path,
        "bad/expand.yml",
        "title: e\nid: 0b7e9d2b-7d55-4e8e-9c1c-3f4a3b2e1c02\nlogsource: {product: linux, service: sshd}\n"
        "detection:\n  sel:\n    user|expand: '%admins%'\n  condition: sel\n",
    )
    write(
        tmp_path,
        "bad/correlation.yml",
        "title: c\nid: 1c9f3a3e-2f4e-4bd4-8b1f-4f7e0d2c9a77\ncorrelation:\n  type: event_count\n"
        "  rules: [x]\n  group-by: [a]\n  timespan: 5m\n  condition: {gte: 3}\n",
    )
    write(tmp_path, "ignored.txt", "not a rule")

    engine = Engine.load([tmp_path, tmp_path / "does-not-exist"])

    assert sorted(r.title for r in engine.rules) == ["Encoded PowerShell", "SSH failure"]
    reasons = {e.path.name: e.reason for e in engine.errors}
    assert set(reasons) == {
        "not_yaml.yml",
        "unknown_modifier.yml",
        "expand.yml",
        "correlation.yml",
        "does-not-exist",
    }
    assert "containz" in reasons["unknown_modifier.yml"]
    assert "placeholder" in reasons["expand.yml"]
    assert "correlation" in reasons["correlation.yml"]
    assert reasons["does-not-exist"] == "no such file or directory"
    by_name = {e.path.name: e for e in engine.errors}
    assert by_name["expand.yml"].rule_id == "0b7e9d2b-7d55-4e8e-9c1c-3f4a3b2e1c02"


def test_multi_document_file_and_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "multi.yml", WINDOWS_PROC + "\n---\n" + LINUX_SSHD + "\n---\n" + LINUX_SSHD)
    engine = Engine.load([path])
    assert [r.title for r in engine.rules] == ["Encoded PowerShell", "SSH failure"]
    assert len(engine.errors) == 1 and "duplicate rule id" in engine.errors[0].reason


def test_rule_info_defaults_and_metadata() -> None:
    engine = Engine.from_yaml(WINDOWS_PROC + "\n---\n" + LINUX_SSHD)
    win, lnx = engine.rules
    assert (win.level, win.status, win.tags) == ("high", "test", ("attack.execution", "attack.t1059.001"))
    assert (lnx.level, lnx.status, lnx.tags) == ("medium", "", ())
    # A rule without id gets a deterministic one (alert ids must survive reloads).
    no_id = LINUX_SSHD.replace("id: 0b7e9d2a-7d55-4e8e-9c1c-3f4a3b2e1c02\n", "")
    assert Engine.from_yaml(no_id).rules[0].rule_id == Engine.from_yaml(no_id).rules[0].rule_id


# ---------------------------------------------------------------------------- windows pipelines


def test_sysmon_pipeline_matches_eid_1_only() -> None:
    engine = Engine.from_yaml(WINDOWS_PROC)
    hits = engine.match(make_event(sysmon_proc(1), product="windows"))
    assert [h.rule.title for h in hits] == ["Encoded PowerShell"]
    assert hits[0].matched_fields == {
        "Channel": SYSMON,
        "EventID": "1",
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "CommandLine": "powershell -enc SQBFAFgA",
    }
    assert engine.match(make_event(sysmon_proc(3), product="windows")) == []
    assert engine.match(make_event({**sysmon_proc(1), "Channel": "Security"}, product="windows")) == []
    assert engine.match(make_event({k: v for k, v in sysmon_proc(1).items() if k != "Channel"})) == []


def test_index_never_drops_matches_for_odd_but_valid_values() -> None:
    engine = Engine.from_yaml(WINDOWS_PROC)
    for fields in (
        sysmon_proc("1"),  # EventID as string
        {**sysmon_proc(1), "Channel": SYSMON.upper()},  # channel in another case
        {**sysmon_proc(1), "channel": SYSMON, "Channel": None},  # other key spelling
        {**sysmon_proc(1), "EventID": [1, 2]},  # list: not a single key, checked fully
    ):
        assert len(engine.match(make_event(fields, product="windows"))) == 1, fields


def test_windows_service_gets_channel_condition() -> None:
    engine = Engine.from_yaml(WINDOWS_SECURITY)
    assert engine.match(make_event({"Channel": "Security", "EventID": 4625}, product="windows"))
    assert not engine.match(make_event({"Channel": "System", "EventID": 4625}, product="windows"))


# ------------------------------------------------------------------------------------- gating


def test_linux_rule_never_fires_on_windows_event_and_vice_versa() -> None:
    engine = Engine.from_yaml(WINDOWS_PROC + "\n---\n" + LINUX_SSHD)
    win = make_event(
        {**sysmon_proc(1), "Message": "Failed password for root"}, product="windows", service="sshd"
    )
    assert [h.rule.title for h in engine.match(win)] == ["Encoded PowerShell"]
    # EVTX JSON without a product hint is still a Windows event.
    evtx = make_event({**sysmon_proc(1), "Message": "Failed password"}, fmt="evtx_json", service="sshd")
    assert [h.rule.title for h in engine.match(evtx)] == ["Encoded PowerShell"]
    lnx = make_event(
        sysmon_proc(1), product="linux", service="sshd", raw="sshd: Failed password for root", fmt="rfc3164"
    )
    assert [h.rule.title for h in engine.match(lnx)] == ["SSH failure"]
    # A JSON event's raw text is not searched by keywords: its field names are not content.
    as_json = make_event(
        {"note": "x"}, product="linux", service="sshd", raw='{"Failed password": 1}', fmt="json"
    )
    assert engine.match(as_json) == []


def test_service_and_category_gating_for_non_windows_rules() -> None:
    engine = Engine.from_yaml(LINUX_SSHD)
    fields = {"message": "Failed password for root"}
    assert engine.match(make_event(fields, product="linux", service="sshd"))
    assert engine.match(make_event(fields, service="SSHD"))  # no product hint: product check passes
    assert not engine.match(make_event(fields, product="linux", service="sudo"))
    assert not engine.match(make_event(fields, product="linux"))  # unknown service
    auth = Engine.from_yaml(LINUX_SSHD.replace("service: sshd", "service: auth"))
    assert auth.match(make_event(fields, product="linux", service="sshd"))  # sshd implies auth
    proxy = Engine.from_yaml(
        "title: p\nlogsource: {category: proxy}\ndetection:\n  s:\n    c-uri|contains: evil\n  condition: s"
    )
    assert proxy.match(make_event({"c-uri": "/evil"}, category="proxy"))
    assert not proxy.match(make_event({"c-uri": "/evil"}))


def test_syslog_pipeline_maps_field_aliases() -> None:
    engine = Engine.from_yaml(
        """
title: alias
logsource: {product: linux, service: sshd}
detection:
  sel:
    Message|contains: 'Failed password'
    SourceIp|cidr: 203.0.113.0/24
    UserName: root
    Program: sshd
  condition: sel
"""
    )
    fields = {
        "message": "Failed password for root",
        "src_ip": "203.0.113.7",
        "user": "root",
        "app_name": "sshd",
    }
    hits = engine.match(make_event(fields, product="linux", service="sshd"))
    assert len(hits) == 1
    assert hits[0].matched_fields == {
        "message": "Failed password for root",
        "src_ip": "203.0.113.7",
        "user": "root",
        "app_name": "sshd",
    }


def test_match_is_repeatable_and_in_load_order() -> None:
    engine = Engine.from_yaml(
        WINDOWS_PROC
        + "\n---\n"
        + WINDOWS_PROC.replace("5d1e8c43", "5d1e8c44").replace("Encoded PowerShell", "Second")
    )
    ev = make_event(sysmon_proc(1), product="windows")
    first = [h.rule.title for h in engine.match(ev)]
    assert first == ["Encoded PowerShell", "Second"] == [h.rule.title for h in engine.match(ev)]


def test_sigma_filters_apply_across_files(tmp_path: Path) -> None:
    write(tmp_path, "rule.yml", WINDOWS_PROC)
    write(
        tmp_path,
        "filter.yml",
        """
title: Ignore the build server
logsource: {product: windows, category: process_creation}
filter:
  rules: [5d1e8c43-6f0a-4c43-9a55-1b0c1b6f7a01]
  selection:
    User: 'CITY\\\\svc-build'
  condition: not selection
""",
    )
    engine = Engine.load([tmp_path])
    assert engine.errors == []
    assert engine.match(make_event(sysmon_proc(1, User="city\\bob"), product="windows"))
    assert not engine.match(make_event(sysmon_proc(1, User="CITY\\svc-build"), product="windows"))
