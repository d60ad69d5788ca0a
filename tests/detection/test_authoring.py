"""Rule authoring checks: the repo's own detections pass; failures are reported with reasons."""

from __future__ import annotations

import json
from pathlib import Path

from citysoc.detection import authoring

REPO = Path(__file__).resolve().parents[2]
DETECTIONS = REPO / "detections"

RULE = """
title: Test Rule
id: 3f0c2a4e-8d3b-4b8e-a6f1-6c2d9e8b7a10
status: test
description: test rule
author: citysoc
date: 2026-01-01
level: low
logsource:
  product: linux
  service: sshd
detection:
  sel:
    message|contains: 'Failed password'
  condition: sel
"""


def sample(message: str, service: str = "sshd") -> str:
    return json.dumps({"fields": {"message": message}, "logsource": {"product": "linux", "service": service}})


def write_rule(dir: Path, tp: list[str] | None, tn: list[str] | None = None, text: str = RULE) -> Path:
    rule = dir / "rule.yml"
    rule.write_text(text, encoding="utf-8")
    if tp is not None:
        (dir / "rule.tp.jsonl").write_text("\n".join(tp) + "\n", encoding="utf-8")
    if tn is not None:
        (dir / "rule.tn.jsonl").write_text("\n".join(tn) + "\n", encoding="utf-8")
    return rule


def test_repo_detections_pass_their_samples() -> None:
    results = authoring.test_rules([DETECTIONS])
    assert len(results) >= 3
    failed = [(r.path.name, r.failures) for r in results if not r.ok]
    assert failed == []
    for r in results:
        assert r.tp_total >= 3 and r.tp_matched == r.tp_total, r.summary
        assert r.tn_total >= 3 and r.tn_hits == 0, r.summary


def test_repo_detections_have_no_serious_check_issues() -> None:
    issues = authoring.check_rules([DETECTIONS])
    serious = [(i.path, i.code, i.message) for i in issues if i.severity in ("error", "high")]
    assert serious == []


def test_passing_rule(tmp_path: Path) -> None:
    write_rule(tmp_path, [sample("Failed password for root")], [sample("Accepted password for bob")])
    [r] = authoring.test_rules([tmp_path])
    assert r.ok and (r.tp_matched, r.tp_total, r.tn_hits, r.tn_total) == (1, 1, 0, 1)
    assert r.rule_id == "3f0c2a4e-8d3b-4b8e-a6f1-6c2d9e8b7a10"


def test_unmatched_true_positive_is_a_failure(tmp_path: Path) -> None:
    write_rule(tmp_path, [sample("Failed password for root"), sample("Failed password", service="sudo")])
    [r] = authoring.test_rules([tmp_path])
    assert not r.ok
    assert (r.tp_matched, r.tp_total) == (1, 2)
    assert r.failures == ("rule.tp.jsonl:2: true positive not detected",)
    assert "tp 1/2" in r.summary


def test_detected_true_negative_is_a_failure(tmp_path: Path) -> None:
    write_rule(tmp_path, [sample("Failed password for root")], [sample("x"), sample("Failed password for x")])
    [r] = authoring.test_rules([tmp_path])
    assert not r.ok and r.failures == ("rule.tn.jsonl:2: true negative detected",)


def test_missing_tp_samples_and_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_rule(tmp_path / "a", None)
    write_rule(tmp_path / "b", ["{not json", json.dumps({"logsource": {}}), sample("Failed password")])
    results = {r.path.parent.name: r for r in authoring.test_rules([tmp_path])}
    assert results["a"].failures == ("no true-positive samples (rule.tp.jsonl missing or empty)",)
    b = results["b"]
    assert not b.ok and b.tp_matched == 1
    assert [f.split(": bad sample")[0] for f in b.failures] == ["rule.tp.jsonl:1", "rule.tp.jsonl:2"]


def test_rule_that_does_not_load_is_a_failure(tmp_path: Path) -> None:
    write_rule(
        tmp_path, [sample("x")], text=RULE.replace("|contains: 'Failed password'", "|expand: '%admins%'")
    )
    [r] = authoring.test_rules([tmp_path])
    assert not r.ok and r.failures[0].startswith("does not load:")


def test_check_reports_parse_and_engine_errors(tmp_path: Path) -> None:
    (tmp_path / "parse.yml").write_text(RULE.replace("|contains", "|containz"), encoding="utf-8")
    (tmp_path / "engine.yml").write_text(
        RULE.replace("3f0c2a4e", "3f0c2a4f").replace("message|contains: 'Failed password'", "t|minute: 5"),
        encoding="utf-8",
    )
    issues = authoring.check_rules([tmp_path])
    errors = {(i.path.name if i.path else None, i.code) for i in issues if i.severity == "error"}
    assert ("parse.yml", "SigmaModifierError") in errors
    assert ("engine.yml", "load_error") in errors
    assert len([i for i in issues if i.path and i.path.name == "parse.yml" and i.severity == "error"]) == 1
