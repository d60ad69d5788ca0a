import json
from pathlib import Path

import pytest

from citysoc.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_detect_writes_one_line_per_hit_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    lines = [
        {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 1,
            "Computer": "w",
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "OriginalFileName": "PowerShell.EXE",
            "CommandLine": "powershell -enc SQBFAFgA",
        },
        {
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "EventID": 1,
            "Computer": "w",
            "Image": "C:\\Windows\\notepad.exe",
            "CommandLine": "notepad",
        },
    ]
    events.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    out = tmp_path / "hits.jsonl"
    rc = main(["detect", "--rules", str(REPO / "detections"), "--events", str(events), "--out", str(out)])
    assert rc == 0
    hits = [json.loads(x) for x in out.read_text().splitlines()]
    assert [h["event"] for h in hits] == [0]
    assert hits[0]["level"] == "high" and set(hits[0]) == {"event", "rule_id", "title", "level"}
    err = capsys.readouterr().err
    assert "rules loaded: 3" in err and "events: 2 (1 unreadable lines)" in err and "hits: 1" in err
    assert "events/s:" in err.splitlines()[-1]
