"""A running ``citysoc run`` with demo data, for the console's browser tests and screenshots.

``start_site(directory)`` starts the embedded default as a real process (its own config, data and free
ports under ``directory``), then through the real interfaces only: registers agencies and systems and
creates users (admin API), sends SSH-failure syslog lines over TCP and Sysmon events over HTTP ingest,
and waits until the detection worker has fed the alert groups. ``Site.stop()`` stops the process by its
PID. Run directly to keep a demo site up: ``python deploy/dev/console_site.py DIR``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from citysoc.core.config import hash_token

REPO = Path(__file__).resolve().parents[2]
ADMIN = "console-demo-admin-token"
PASSWORD = "console demo password"
INGEST = {"hcm-dost": "console-ingest-dost", "q1": "console-ingest-q1"}
USERS = {
    "lead": ("soc_lead", None),
    "ana": ("soc_analyst", None),
    "officer": ("agency_officer", "q1"),
}
AGENCIES = [
    {
        "code": "hcm-dost",
        "name": "Sở Khoa học và Công nghệ",
        "kind": "city_department",
        "contacts": [
            {"name": "Trực ban ATTT", "role": "24/7", "phone": "028 3000 0001", "email": "soc@dost.example"}
        ],
    },
    {
        "code": "q1",
        "name": "UBND Quận 1",
        "kind": "district",
        "contacts": [
            {"name": "Nguyễn Văn An", "role": "CIO", "phone": "028 3000 0002", "email": "it@q1.example"}
        ],
    },
    {"code": "q3", "name": "UBND Quận 3", "kind": "district", "contacts": []},
]
SYSTEMS = [
    {
        "code": "mail",
        "name": "Thư điện tử công vụ",
        "owner": "hcm-dost",
        "function_class": "internal_operations",
        "security_level": 3,
        "onsite_staff": True,
        "professional_monitoring": True,
        "independent_assessment": True,
        "last_assessment_date": "2026-06-30",
        "national_monitoring": False,
        "log_sources": ["127.0.0.1"],
    },
    {
        "code": "q1-portal",
        "name": "Cổng thông tin Quận 1",
        "owner": "q1",
        "function_class": "citizen_services",
        "security_level": 2,
        "onsite_staff": True,
        "professional_monitoring": False,
        "independent_assessment": False,
        "national_monitoring": True,
        "log_sources": ["ws-017.q1.hcm.gov.vn"],
    },
    {
        "code": "q3-hr",
        "name": "Quản lý nhân sự Quận 3",
        "owner": "q3",
        "function_class": "internal_operations",
        "security_level": 2,
        "log_sources": [],
    },
]
SSH_HOSTS = ("web01", "web02", "web03", "web04")


class SiteError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Site:
    url: str
    directory: Path
    syslog_port: int
    popen: subprocess.Popen[bytes]
    log: Path
    groups: list[dict[str, Any]] = field(default_factory=list)

    def admin(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = httpx.request(
            method, self.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10, **kw
        )
        if r.status_code != status:
            raise SiteError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)


def config(directory: Path) -> dict[str, Any]:
    tcp = free_port()
    return {
        "data_dir": str(directory / "data"),
        "log_level": "WARNING",
        "store": {"dsn": f"chdb://{directory}/data/clickhouse"},
        "bus": {"kind": "memory"},
        "api": {"host": "127.0.0.1", "port": free_port()},
        "collector": {
            "instance": "console-demo",
            "host": "127.0.0.1",
            "http_port": free_port(),
            "syslog_udp_port": None,
            "syslog_tcp_port": tcp,
            "batch_linger_ms": 10,
        },
        "worker": {"metrics_port": free_port(), "metrics_host": "127.0.0.1", "poll_timeout_ms": 50},
        "detection": {"rules": [str(REPO / "detections")]},
        "auth": {"admin_tokens": [hash_token(ADMIN)]},
        "agencies": [
            {
                "code": code,
                "name": code,
                "ingest_tokens": [hash_token(tok)],
                "default_system": f"{code}-portal",
            }
            for code, tok in INGEST.items()
        ],
        "sources": [{"agency": "hcm-dost", "system": "mail", "cidrs": ["127.0.0.0/8"]}],
    }


def _wait_ready(site: Site, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if site.popen.poll() is not None:
            raise SiteError(f"citysoc run exited:\n{site.output()[-3000:]}")
        try:
            if httpx.get(site.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SiteError(f"citysoc run not ready in {timeout}s:\n{site.output()[-3000:]}")


def _register(site: Site) -> None:
    ids: dict[str, int] = {}
    for a in AGENCIES:
        ids[a["code"]] = site.admin("POST", "/api/v1/agencies", 201, json=a)["id"]
    for s in SYSTEMS:
        layers = (
            "onsite_staff",
            "professional_monitoring",
            "independent_assessment",
            "last_assessment_date",
            "national_monitoring",
        )
        body = {k: v for k, v in s.items() if k != "owner" and k not in layers}
        body["protection"] = {k: s[k] for k in layers if k in s}
        body |= {"owner_agency_id": ids[s["owner"]], "operator_agency_id": ids[s["owner"]]}
        site.admin("POST", "/api/v1/systems", 201, json=body)
    for name, (role, agency) in USERS.items():
        body = {
            "username": name,
            "role": role,
            "password": PASSWORD,
            "agency_id": ids[agency] if agency else None,
            "display_name": name,
        }
        site.admin("POST", "/api/v1/users", 201, json=body)


def sysmon(record_id: int, image: str, command: str, original: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "EventRecordID": record_id,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws-017.q1.hcm.gov.vn",
                "TimeCreated": {"#attributes": {"SystemTime": now}},
            },
            "EventData": {
                "Image": image,
                "OriginalFileName": original,
                "CommandLine": command,
                "ParentImage": "C:\\Windows\\explorer.exe",
                "User": "Q1\\officer",
            },
        }
    }


def send_events(site: Site) -> None:
    now = datetime.now(UTC).astimezone().isoformat(timespec="milliseconds")
    lines = []
    for i, host in enumerate(SSH_HOSTS):
        for n in range(i + 1):
            msg = f"Failed password for invalid user admin{n} from 203.0.113.{9 + i} port {5000 + n} ssh2"
            lines.append(f"<38>1 {now} {host} sshd {4000 + i} - - {msg}\n".encode())
    with socket.create_connection(("127.0.0.1", site.syslog_port)) as s:
        s.sendall(b"".join(lines))
    ps = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    for body in (
        sysmon(
            1001,
            ps,
            "powershell.exe -NoProfile -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
            "PowerShell.EXE",
        ),
        sysmon(1002, "C:\\Windows\\System32\\whoami.exe", "whoami /priv", "whoami.exe"),
    ):
        r = httpx.post(
            site.url + "/api/v1/ingest",
            content=orjson.dumps(body),
            headers={"Authorization": f"Bearer {INGEST['q1']}"},
            timeout=10,
        )
        if r.status_code != 202:
            raise SiteError(f"ingest: {r.status_code} {r.text[:300]}")


EXPECTED_GROUPS = len(SSH_HOSTS) + 2
"""One SSH-failure group per host, one per Sysmon rule (encoded PowerShell, whoami)."""
EXPECTED_HITS = sum(range(1, len(SSH_HOSTS) + 1)) + 2


def wait_groups(site: Site, groups: int, hits: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The alert groups once there are ``groups`` of them counting ``hits`` alerts in all."""
    deadline = time.monotonic() + timeout
    while True:
        items: list[dict[str, Any]] = site.admin("GET", "/api/v1/alert-groups", params={"limit": 200})[
            "items"
        ]
        if len(items) >= groups and sum(g["count"] for g in items) >= hits:
            return items
        if time.monotonic() > deadline:
            raise SiteError(f"only {len(items)} alert groups after {timeout}s:\n{site.output()[-3000:]}")
        time.sleep(0.2)


def seed_incident(site: Site) -> int:
    """An incident holding the SSH-failure groups of web01 and web02, with tasks for two agencies, an
    observable, evidence, a comment and a drafted initial report (for screenshots; the browser tests
    build theirs through the pages). Returns its id."""
    groups = [g["id"] for g in site.groups if g["key"].get("host") in ("web01", "web02")]
    agencies = {
        a["code"]: a["id"] for a in site.admin("GET", "/api/v1/agencies", params={"limit": 200})["items"]
    }
    body = {"title": "Dò mật khẩu SSH vào máy chủ thư điện tử", "severity": "high", "group_ids": groups}
    incident = site.admin("POST", "/api/v1/incidents", 201, json=body)
    base = f"/api/v1/incidents/{incident['id']}"
    site.admin("POST", f"{base}/transition", json={"to": "triage"})
    for title, code in (
        ("Chặn 203.0.113.9 trên tường lửa", "hcm-dost"),
        ("Rà soát tài khoản quản trị", "q1"),
    ):
        task = {
            "title": title,
            "agency_id": agencies[code],
            "mandatory": True,
            "due_at": "2030-01-02T01:30:00Z",
        }
        site.admin("POST", f"{base}/tasks", 201, json=task)
    site.admin("POST", f"{base}/observables", 201, json={"kind": "ipv4", "value": "203.0.113.9"})
    evidence = {
        "file_name": "auth.log",
        "sha256": "ab" * 32,
        "acquired_by": "ana",
        "acquired_at": datetime.now(UTC).isoformat(),
    }
    stored = site.admin("POST", f"{base}/evidence", 201, json=evidence)
    hand_over = {"action": "transferred", "holder": "Phòng lưu trữ chứng cứ", "note": "Niêm phong, túi số 12"}
    site.admin("POST", f"{base}/evidence/{stored['id']}/custody", 201, json=hand_over)
    site.admin("POST", f"{base}/comments", 201, json={"body": "Nguồn tấn công từ một địa chỉ, đã chặn."})
    site.admin("PATCH", base, json={"severity": "critical", "category": "intrusion"})
    site.admin("POST", f"{base}/reports", 201, json={"kind": "initial"})
    return int(incident["id"])


def seed_suppression(site: Site) -> int:
    """A suppression of the SSH failures from web03 (the center's own scanner), for screenshots."""
    web03 = next(g for g in site.groups if g["key"].get("host") == "web03")
    body = {
        "name": "Máy quét lỗ hổng của Trung tâm",
        "justification": "Quét định kỳ được phê duyệt từ máy web03 mỗi thứ Hai.",
        "rule_id": web03["rule_id"],
        "key": {"host": "web03"},
        "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    return int(site.admin("POST", "/api/v1/suppressions", 201, json=body)["id"])


def start_site(directory: Path, timeout: float = 90) -> Site:
    directory.mkdir(parents=True, exist_ok=True)
    cfg = config(directory)
    path = directory / "citysoc.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    log = directory / "citysoc-run.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "citysoc.cli", "--config", str(path), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    site = Site(
        f"http://127.0.0.1:{cfg['api']['port']}", directory, cfg["collector"]["syslog_tcp_port"], popen, log
    )
    try:
        _wait_ready(site, timeout)
        _register(site)
        send_events(site)
        site.groups = wait_groups(site, EXPECTED_GROUPS, EXPECTED_HITS)
    except BaseException:
        site.stop()
        raise
    return site


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/console-demo")
    demo = start_site(target.resolve())
    print(f"console demo at {demo.url} (users {', '.join(USERS)}; password {PASSWORD!r}); Ctrl-C stops it")
    try:
        demo.popen.wait()
    except KeyboardInterrupt:
        demo.stop()
