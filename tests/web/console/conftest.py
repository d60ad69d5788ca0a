"""Console fixtures.

``console``: the API app (with the console) over a real database (SQLite and PostgreSQL, see
``tests/db/conftest.py``) and the in-memory store twin, driven through HTTP with cookies like a browser
would. The Playwright tests (``test_browser.py``) start a real ``citysoc run`` process instead.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from citysoc.api.app import create_api
from citysoc.api.groups.service import ingest_alerts
from citysoc.core.alert import Alert, Level, alert_id_for_event
from citysoc.core.config import Settings, hash_token
from citysoc.db import Database
from citysoc.store.memory import MemoryStore


def _load_db_fixtures() -> Any:
    name = "citysoc_tests_db_fixtures"
    if (mod := sys.modules.get(name)) is not None:
        return mod
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[2] / "db" / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


_db = _load_db_fixtures()
pg_url = _db.pg_url
sqlite_template = _db.sqlite_template
db_url = _db.db_url
db = _db.db

ADMIN = "console-admin-token"
PASSWORD = "a long enough password"
SETTINGS = Settings.model_validate({"auth": {"admin_tokens": [hash_token(ADMIN)]}})
ORIGIN = "http://citysoc"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m is not None, "page has no CSRF field"
    return m.group(1)


def make_alert(
    n: int,
    *,
    agency: str,
    rule: str = "r-brute",
    level: Level = "high",
    host: str = "web01",
    title: str = "Brute force",
    system: str = "portal",
) -> Alert:
    at = datetime.now(UTC) - timedelta(minutes=30) + timedelta(seconds=n)
    return Alert(
        alert_id=alert_id_for_event(rule, f"{agency}-{system}-{host}-{n}"),
        rule_id=rule,
        title=title,
        level=level,
        rule_status="stable",
        tags=("attack.t1110",),
        agency=agency,
        system=system,
        host=host,
        event_ids=(f"ev-{agency}-{n}",),
        matched_fields={"User": "admin"},
        time=at,
        detected_at=at + timedelta(seconds=5),
    )


@dataclass
class Console:
    app: FastAPI
    client: httpx.AsyncClient
    store: MemoryStore
    db: Database

    async def api(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = await self.client.request(method, path, headers={"Authorization": f"Bearer {ADMIN}"}, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    async def agency(self, code: str) -> int:
        body = {"code": code, "name": f"Agency {code}", "kind": "district"}
        created: dict[str, Any] = await self.api("POST", "/api/v1/agencies", 201, json=body)
        return int(created["id"])

    async def user(self, username: str, role: str, agency_id: int | None = None) -> None:
        body = {"username": username, "role": role, "agency_id": agency_id, "password": PASSWORD}
        await self.api("POST", "/api/v1/users", 201, json=body)

    async def alerts(self, alerts: Sequence[Alert]) -> None:
        self.store.insert_alerts(alerts)
        await ingest_alerts(self.db, alerts)

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        """Log in through the form (a fresh cookie jar for this user)."""
        self.client.cookies.clear()
        page = await self.client.get("/login")
        assert page.status_code == 200
        return await self.client.post(
            "/login",
            data={"username": username, "password": password, "csrf": csrf_of(page.text), "next": ""},
            headers={"Origin": ORIGIN},
        )

    async def post(self, path: str, data: dict[str, Any], page: str = "/alerts") -> httpx.Response:
        """Submit a form from ``page`` (with that page's CSRF token), as the browser would."""
        html = (await self.client.get(page)).text
        return await self.client.post(path, data={**data, "csrf": csrf_of(html)}, headers={"Origin": ORIGIN})


@pytest.fixture
async def console(db: Database) -> AsyncIterator[Console]:
    await db.upgrade()
    store = MemoryStore()
    store.migrate()
    app = create_api(SETTINGS, store, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        yield Console(app, client, store, db)
