"""API fixtures: the app over a real database (both backends, see ``tests/db/conftest.py``) and the
in-memory store twin, an HTTP client, and helpers to make agencies, users and their tokens."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from citysoc.api.app import create_api
from citysoc.core.config import Settings, hash_token
from citysoc.db import Database
from citysoc.store.memory import MemoryStore


def _load_db_fixtures() -> Any:
    name = "citysoc_tests_db_fixtures"
    if (mod := sys.modules.get(name)) is not None:
        return mod
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "db" / "conftest.py")
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

ADMIN = "config-admin-token"
INGEST = "config-ingest-token"
PASSWORD = "a long enough password"
SETTINGS = Settings.model_validate(
    {
        "auth": {"admin_tokens": [hash_token(ADMIN)]},
        "agencies": [{"code": "ingest-only", "ingest_tokens": [hash_token(INGEST)]}],
    }
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    store: MemoryStore
    db: Database

    async def call(self, method: str, path: str, token: str = ADMIN, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=bearer(token), **kw)

    async def ok(self, method: str, path: str, token: str = ADMIN, status: int = 200, **kw: Any) -> Any:
        r = await self.call(method, path, token, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    async def agency(self, code: str, **kw: Any) -> dict[str, Any]:
        body = {"code": code, "name": f"Agency {code}", "kind": "district", **kw}
        result: dict[str, Any] = await self.ok("POST", "/api/v1/agencies", json=body, status=201)
        return result

    async def user(
        self, username: str, role: str, agency_id: int | None = None
    ) -> tuple[dict[str, Any], str]:
        """Create a user with ``PASSWORD`` and log in; returns the user and a session token."""
        body = {"username": username, "role": role, "agency_id": agency_id, "password": PASSWORD}
        user = await self.ok("POST", "/api/v1/users", json=body, status=201)
        r = await self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return user, r.json()["token"]


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    await db.upgrade()  # already current: exercises the idempotent start-up path
    store = MemoryStore()
    store.migrate()
    app = create_api(SETTINGS, store, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://citysoc") as client:
        yield Api(app, client, store, db)
