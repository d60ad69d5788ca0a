"""OpenAPI-driven fuzzing (schemathesis): every operation of ``/api/v1/openapi.json``, called in-process
as a city SOC admin on the real app (in-memory store twin, real database: SQLite and PostgreSQL), must
answer without a server error and exactly as its schema says (status code, content type, body,
headers), for valid (positive) and invalid (negative) generated requests. A few objects are seeded
first, and positive cases name them by id half of the time, so handlers get past their 404s. Each
positive case is preceded by a copy with a NUL character in one of its strings (round-robin over them):
PostgreSQL rejects such text, so it must be refused at the edge (schemathesis's own cases rarely hold
NUL). Runs as one pytest item per operation, mode and database (schemathesis's lazy ``from_fixture``
does not run on pytest 9).

Bounded for CI: derandomized (the same cases every run), ``MAX_EXAMPLES`` cases per operation and mode.
"""

from __future__ import annotations

import copy
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from citysoc.api.app import create_api
from citysoc.api.groups.service import ingest_alerts
from citysoc.db import Database
from citysoc.db.testing import reset
from citysoc.store.memory import MemoryStore

from .conftest import ADMIN, PASSWORD, SETTINGS, _db, bearer
from .groups.support import alert

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MAX_EXAMPLES = 10
OPENAPI = "/api/v1/openapi.json"


def _cases() -> list[Any]:
    """``("METHOD /path", mode)`` for every operation in the schema (read without touching a database):
    positive for all, negative for those with parameters or a body (the others have nothing to break)."""
    app = create_api(SETTINGS, MemoryStore(), db=Database("sqlite+aiosqlite:///unused.db"))  # connects lazily
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    out = []
    for path, operations in paths.items():
        for method, op in operations.items():
            label = f"{method.upper()} {path}"
            out.append(pytest.param(label, GenerationMode.POSITIVE, id=f"{label} positive"))
            if op.get("parameters") or op.get("requestBody"):
                out.append(pytest.param(label, GenerationMode.NEGATIVE, id=f"{label} negative"))
    return out


@dataclass
class Fuzzed:
    schema: Any
    ids: dict[str, int]
    """Path parameter name -> id of a seeded object."""


async def _seed(url: str, store: MemoryStore) -> dict[str, int]:
    """Seed an agency, a system, alert groups, an incident with a task, an observable, evidence and a
    report, a suppression and an analyst; return their ids by path parameter name."""
    database = Database(url)
    try:
        app = create_api(SETTINGS, store, db=database)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://citysoc") as client:

            async def ok(method: str, path: str, status: int = 201, **kw: Any) -> Any:
                r = await client.request(method, path, headers=bearer(ADMIN), **kw)
                assert r.status_code == status, (method, path, r.status_code, r.text)
                return r.json()

            agency = await ok(
                "POST", "/api/v1/agencies", json={"code": "q1", "name": "Q1", "kind": "district"}
            )
            system = await ok(
                "POST",
                "/api/v1/systems",
                json={
                    "code": "portal",
                    "name": "Portal",
                    "owner_agency_id": agency["id"],
                    "operator_agency_id": agency["id"],
                    "function_class": "citizen_services",
                },
            )
            alerts = [alert(n, host=f"web{n}") for n in range(3)]
            store.insert_alerts(alerts)
            await ingest_alerts(database, alerts)
            groups = (await ok("GET", "/api/v1/alert-groups", status=200))["items"]
            incident = await ok(
                "POST",
                "/api/v1/incidents",
                json={"title": "Brute force on the portal", "group_ids": [groups[0]["id"]]},
            )
            work = f"/api/v1/incidents/{incident['id']}"
            task = await ok(
                "POST", f"{work}/tasks", json={"title": "Reset passwords", "agency_id": agency["id"]}
            )
            observable = await ok(
                "POST", f"{work}/observables", json={"kind": "ipv4", "value": "203.0.113.9"}
            )
            evidence = await ok(
                "POST",
                f"{work}/evidence",
                json={
                    "file_name": "auth.log",
                    "sha256": "ab" * 32,
                    "acquired_by": "analyst",
                    "acquired_at": "2026-11-01T00:00:00Z",
                },
            )
            report = await ok("POST", f"{work}/reports", json={"kind": "initial"})
            suppression = await ok(
                "POST",
                "/api/v1/suppressions",
                json={
                    "name": "maintenance",
                    "justification": "patch window",
                    "agency": "q1",
                    "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
                },
            )
            body = {"username": "analyst", "role": "soc_analyst", "password": PASSWORD}
            user = await ok("POST", "/api/v1/users", json=body)
            # A shared saved view: a config admin token owns none, but sees and manages shared ones.
            body = {"username": "lead", "role": "soc_lead", "password": PASSWORD}
            await ok("POST", "/api/v1/users", json=body)
            login = await client.post("/api/v1/auth/login", json={"username": "lead", "password": PASSWORD})
            view = await client.post(
                "/api/v1/saved-views",
                json={"name": "new high", "query": "view=flat&level=high", "shared": True},
                headers=bearer(login.json()["token"]),
            )
            assert view.status_code == 201, view.text
            ids = {
                "agency_id": agency["id"],
                "system_id": system["id"],
                "group_id": groups[1]["id"],
                "incident_id": incident["id"],
                "task_id": task["id"],
                "observable_id": observable["id"],
                "evidence_id": evidence["id"],
                "report_id": report["id"],
                "suppression_id": suppression["id"],
                "user_id": user["id"],
                "view_id": view.json()["id"],
            }
            return ids
    finally:
        await database.dispose()


def _strings(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to the string leaves of a JSON-like value."""
    if isinstance(value, str):
        return [at]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _strings(v, (*at, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _strings(v, (*at, i))]
    return []


def _with_nul(case: schemathesis.Case, k: int) -> schemathesis.Case | None:
    """A copy of ``case`` with a NUL character appended to one of its query or body strings (the
    ``k``-th, modulo their number), or None without strings. PostgreSQL cannot store or compare text
    holding NUL, so every route must refuse it (4xx) before it reaches the database; generated
    strings hold NUL only by chance."""
    leaves = [("query", p) for p in _strings(case.query)] + [("body", p) for p in _strings(case.body)]
    if not leaves:
        return None
    where, path = leaves[k % len(leaves)]
    data = {"query": case.query, "body": case.body}  # the body may be the NOT_SET sentinel: kept as is
    data[where] = copy.deepcopy(data[where])
    if path:
        parent = data[where]
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] += "\x00"
    else:
        data[where] += "\x00"
    return case.operation.Case(
        path_parameters=case.path_parameters,
        headers=case.headers,
        query=data["query"],
        body=data["body"],
        media_type=case.media_type,
    )


async def _reset(url: str) -> None:
    database = Database(url)
    try:
        await reset(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "citysoc.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_url")
        _db.run_sync(_reset(url))
    store = MemoryStore()
    store.migrate()
    ids = _db.run_sync(_seed(url, store))
    app = create_api(SETTINGS, store, db=Database(url))
    schema = schemathesis.openapi.from_asgi(OPENAPI, app)
    schema.config.update(headers=bearer(ADMIN))  # the configured city SOC admin token
    try:
        yield Fuzzed(schema, ids)
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan closes its database connections


@pytest.mark.parametrize(("label", "mode"), _cases())
def test_operation_conforms(fuzzed: Fuzzed, label: str, mode: GenerationMode) -> None:
    operation = fuzzed.schema.find_operation_by_label(label)
    assert operation is not None, label
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        names = {p.name for p in operation.path_parameters}
        seeded = {n: fuzzed.ids[n] for n in names if n in fuzzed.ids}
        if seeded:
            strategy = st.one_of(
                operation.as_strategy(generation_mode=mode, path_parameters=seeded), strategy
            )

    nul_variants = itertools.count()

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        if mode is GenerationMode.POSITIVE and (variant := _with_nul(case, next(nul_variants))) is not None:
            variant.call_and_validate(checks=CHECKS)  # first: the case itself may create what it names
        case.call_and_validate(checks=CHECKS)

    run()
