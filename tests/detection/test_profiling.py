"""Per-rule cost and hit counts: ``Profiler``, ``Engine.match_profiled`` and ``citysoc detect --profile``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from citysoc.cli import main
from citysoc.detection.engine import Engine, RuleInfo
from citysoc.detection.profiling import Profiler

from .support import SYSMON, make_event

RULES = """
title: Whoami
id: 00000000-0000-4000-8000-00000000000a
status: test
level: high
logsource: {product: windows, category: process_creation}
detection:
  sel: {CommandLine|contains: whoami}
  condition: sel
---
title: Cmd
id: 00000000-0000-4000-8000-00000000000b
status: test
level: low
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\cmd.exe'}
  condition: sel
---
title: Not notepad
id: 00000000-0000-4000-8000-00000000000c
status: test
level: low
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\notepad.exe'}
  condition: not sel
"""
WHOAMI, CMD, NOT_NOTEPAD = (f"00000000-0000-4000-8000-00000000000{c}" for c in "abc")

EVENTS = [
    {
        "Channel": SYSMON,
        "EventID": 1,
        "Image": "C:\\Windows\\System32\\cmd.exe",
        "CommandLine": "cmd /c whoami",
    },
    {"Channel": SYSMON, "EventID": 1, "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c dir"},
    {"Channel": SYSMON, "EventID": 1, "Image": "C:\\Windows\\notepad.exe", "CommandLine": "notepad"},
]


def _info(rule_id: str) -> RuleInfo:
    return RuleInfo(rule_id, f"title {rule_id}", "low", "", (), Path("x.yml"))


def test_profiler_orders_by_cost_and_sums() -> None:
    p = Profiler()
    p.add_event(0.5, 2)
    p.add_event(0.25, 0)
    p.add_rule(_info("b"), 1.0, True)
    p.add_rule(_info("a"), 1.0, False)  # same cost as "b": rule id breaks the tie
    p.add_rule(_info("c"), 3.0, False)
    p.add_rule(_info("b"), 0.5, True)
    p.add_route_build(2.0)
    assert [(r.rule_id, r.seconds, r.evaluations, r.hits) for r in p.rows()] == [
        ("c", 3.0, 1, 0),
        ("b", 1.5, 2, 2),
        ("a", 1.0, 1, 0),
    ]
    s = p.summary()
    assert s == {
        "events": 2,
        "candidates_per_event": 1.0,
        "prefilter_seconds": 0.75,
        "rule_seconds": 5.5,
        "routes_built": 1,
        "route_build_seconds": 2.0,
        "hits": 2,
    }


def test_match_profiled_gives_the_hits_of_match_and_counts_candidates() -> None:
    engine = Engine.from_yaml(RULES)
    assert not engine.errors
    profiler = Profiler()
    for fields in EVENTS:
        event = make_event(fields, product="windows")
        profiled = [h.rule.rule_id for h in engine.match_profiled(event, profiler)]
        assert profiled == [h.rule.rule_id for h in engine.match(event)]
    rows = {r.rule_id: r for r in profiler.rows()}
    # Whoami is a candidate only where its literal occurs; the negated rule has no literal: always.
    assert (rows[WHOAMI].evaluations, rows[WHOAMI].hits) == (1, 1)
    assert (rows[CMD].evaluations, rows[CMD].hits) == (2, 2)
    assert (rows[NOT_NOTEPAD].evaluations, rows[NOT_NOTEPAD].hits) == (3, 2)
    secs = [r.seconds for r in profiler.rows()]
    assert secs == sorted(secs, reverse=True) and all(s >= 0 for s in secs)
    summary = profiler.summary()
    assert summary["events"] == 3 and summary["hits"] == 5
    assert summary["candidates_per_event"] == pytest.approx(6 / 3)
    assert summary["routes_built"] == 1  # three events of one kind: one route


def _run_detect(tmp_path: Path, *extra: str) -> tuple[int, list[dict[str, object]]]:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    out = tmp_path / "hits.jsonl"
    rc = main(["detect", "--rules", str(rules), "--events", str(events), "--out", str(out), *extra])
    return rc, [json.loads(x) for x in out.read_text().splitlines()]


def test_detect_profile_to_file_writes_rule_rows_then_summary(tmp_path: Path) -> None:
    profile = tmp_path / "profile.jsonl"
    rc, hits = _run_detect(tmp_path, "--profile", str(profile))
    assert rc == 0
    _, plain_hits = _run_detect(tmp_path)
    assert hits == plain_hits and len(hits) == 5
    lines = [json.loads(x) for x in profile.read_text().splitlines()]
    rules, summary = lines[:-1], lines[-1]
    assert {r["kind"] for r in rules} == {"rule"} and summary["kind"] == "summary"
    assert {r["rule_id"]: (r["evaluations"], r["hits"]) for r in rules} == {
        WHOAMI: (1, 1),
        CMD: (2, 2),
        NOT_NOTEPAD: (3, 2),
    }
    assert [r["seconds"] for r in rules] == sorted((r["seconds"] for r in rules), reverse=True)
    assert set(rules[0]) == {"kind", "rule_id", "title", "seconds", "evaluations", "hits"}
    assert summary["events"] == 3 and summary["hits"] == 5 and summary["candidates_per_event"] == 2.0
    assert summary["prefilter_seconds"] >= 0


def test_detect_profile_without_file_prints_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, hits = _run_detect(tmp_path, "--profile")
    assert rc == 0 and len(hits) == 5
    err = capsys.readouterr().err
    assert "profile: 3 events, 2.00 candidate rules per event" in err and "1 routes built" in err
    table = err[err.index("us/eval") :]
    for rid, title in ((WHOAMI, "Whoami"), (CMD, "Cmd"), (NOT_NOTEPAD, "Not notepad")):
        assert f"{rid} {title}" in table
    assert "events/s:" in err.splitlines()[-1] and "profiled" in err.splitlines()[-1]
    assert not (tmp_path / "-").exists()
