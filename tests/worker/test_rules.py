"""Live rule reloads: swap between batches, report broken rules, keep the old set when loading fails."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from prometheus_client import generate_latest

from citysoc.core import metrics
from citysoc.detection.engine import Engine
from citysoc.worker.rules import RuleSet, fingerprint

REPO = Path(__file__).resolve().parents[2]

EXTRA = """
title: Test Rule Added Live
id: 6d1f5a9e-0c1b-4e4e-9a57-1b9f8a3c2d10
status: test
level: low
logsource: {product: linux, service: sshd}
detection:
  sel: {message|contains: 'Accepted password'}
  condition: sel
"""
BROKEN = "title: Broken\nid: 9a0c0ad4-8a4f-4f59-9df4-34a0d77a3b10\nlogsource: {product: linux}\ndetection: {condition: nope}\n"


def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "detections"
    shutil.copytree(REPO / "detections", d)
    return d


async def test_file_changes_are_picked_up_and_broken_rules_reported(tmp_path: Path) -> None:
    d = rules_dir(tmp_path)
    rs = RuleSet([d])
    before = rs.current
    n = len(before.rules)
    watcher = asyncio.create_task(rs.watch(interval_s=0.05))
    (d / "extra.yml").write_text(EXTRA)
    (d / "broken.yml").write_text(BROKEN)
    for _ in range(100):
        if rs.current is not before:
            break
        await asyncio.sleep(0.05)
    watcher.cancel()
    assert len(rs.current.rules) == n + 1
    assert [e.rule_id for e in rs.current.errors] == ["9a0c0ad4-8a4f-4f59-9df4-34a0d77a3b10"]
    text = generate_latest(metrics.REGISTRY).decode()
    assert "citysoc_detection_rules_failed 1.0" in text
    assert (
        'citysoc_detection_rule_load_error{path="' in text
        and 'rule_id="9a0c0ad4-8a4f-4f59-9df4-34a0d77a3b10"' in text
    )
    assert before is not rs.current and len(before.rules) == n  # the old engine object is untouched


async def test_sighup_style_request_reloads_even_without_changes(tmp_path: Path) -> None:
    rs = RuleSet([rules_dir(tmp_path)])
    before = rs.current
    watcher = asyncio.create_task(rs.watch(interval_s=60))
    rs.request_reload()
    for _ in range(100):
        if rs.current is not before:
            break
        await asyncio.sleep(0.05)
    watcher.cancel()
    assert rs.current is not before


async def test_a_failed_reload_keeps_the_rules_in_use(tmp_path: Path) -> None:
    calls = 0

    def flaky(paths: list[Path]) -> Engine:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise RuntimeError("disk vanished")
        return Engine.load(paths)

    rs = RuleSet([rules_dir(tmp_path)], loader=flaky)
    before = rs.current
    assert await rs.reload() is False
    assert rs.current is before


def test_fingerprint_sees_edits_and_ignores_other_files(tmp_path: Path) -> None:
    d = rules_dir(tmp_path)
    fp = fingerprint([d])
    (d / "notes.txt").write_text("not a rule")
    assert fingerprint([d]) == fp
    (d / "extra.yaml").write_text(EXTRA)
    assert fingerprint([d]) != fp
