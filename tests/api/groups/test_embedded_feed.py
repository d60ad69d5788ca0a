"""The embedded default feeds alert groups: events sent to ``citysoc run`` end up counted in their
group, once each, also across a kill -9 right after the collector's 202 (recovery re-creates the
alerts with the same ids and feeding them again counts nothing twice)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

pytestmark = pytest.mark.integration


def _load_e2e() -> Any:
    name = "citysoc_tests_e2e_harness"
    if (mod := sys.modules.get(name)) is not None:
        return mod
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[2] / "e2e" / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


e2e = _load_e2e()
start_embedded = e2e.start_embedded


def encoded_powershell(record_id: int) -> bytes:
    return orjson.dumps(
        {
            "Event": {
                "System": {
                    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                    "EventID": 1,
                    "EventRecordID": record_id,
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Computer": "ws-017.q1.hcm.gov.vn",
                    "TimeCreated": {"#attributes": {"SystemTime": "2026-11-23T03:00:00.000000Z"}},
                },
                "EventData": {
                    "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                    "OriginalFileName": "PowerShell.EXE",
                    "CommandLine": "powershell.exe -NoProfile -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
                    "ParentImage": "C:\\Windows\\explorer.exe",
                    "User": "Q1\\officer",
                },
            }
        }
    )


def wait_groups(url: str, predicate: Any, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(
            f"{url}/api/v1/alert-groups", headers=e2e.auth(e2e.ADMIN), params={"agency": "q1"}, timeout=10
        )
        r.raise_for_status()
        items: list[dict[str, Any]] = r.json()["items"]
        if predicate(items):
            return items
        if time.monotonic() > deadline:
            raise AssertionError(f"alert groups not as expected after {timeout}s: {items}")
        time.sleep(0.1)


def test_embedded_feeds_groups_once_across_kill9(start_embedded: Any) -> None:
    emb = start_embedded()
    n = 2000
    body = b"\n".join(encoded_powershell(500_000 + i) for i in range(n))
    r = httpx.post(f"{emb.url}/api/v1/ingest", content=body, headers=e2e.auth(e2e.INGEST["q1"]), timeout=60)
    assert r.status_code == 202 and r.json()["accepted"] == n
    emb.proc.kill9()
    again = start_embedded(emb.cfg)
    groups = wait_groups(again.url, lambda items: sum(g["count"] for g in items) >= n, 60)
    assert len(groups) == 1 and groups[0]["count"] == n and groups[0]["status"] == "new"
    # Sending the same events again (same event ids) adds no alert and so no count.
    r = httpx.post(f"{again.url}/api/v1/ingest", content=body, headers=e2e.auth(e2e.INGEST["q1"]), timeout=60)
    assert r.status_code == 202
    time.sleep(2)
    assert wait_groups(again.url, lambda items: True, 1)[0]["count"] == n
    assert (Path(emb.cfg["data_dir"]) / "citysoc.db").exists()
