"""Bad input gets a clear 4xx, never a server error: NUL characters (PostgreSQL text cannot hold
them), oversized index values, out-of-range datetimes, nulls where a value is required."""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import Api
from .support import incident

NUL = "a\x00b"


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("POST", "/api/v1/incidents", {"title": NUL}),
        ("POST", "/api/v1/incidents", {"title": "x", "category": NUL}),
        ("POST", "/api/v1/incidents", {"title": "x", "detected_at": "0001-01-01T00:00:00+01:00"}),
        ("PATCH", "/api/v1/incidents/{id}", {"summary": NUL}),
        ("PATCH", "/api/v1/incidents/{id}", {"title": None}),
        ("PATCH", "/api/v1/incidents/{id}", {"detected_at": None}),
        ("POST", "/api/v1/incidents/{id}/transition", {"to": "dismissed", "reason": NUL}),
        ("POST", "/api/v1/incidents/{id}/comments", {"body": NUL}),
        ("POST", "/api/v1/incidents/{id}/observables", {"kind": "url", "value": "http://x/" + NUL}),
        ("POST", "/api/v1/incidents/{id}/observables", {"kind": "user_account", "value": "ы" * 600}),
        (
            "POST",
            "/api/v1/incidents/{id}/evidence",
            {"file_name": NUL, "sha256": "a" * 64, "acquired_by": "x", "acquired_at": "2026-01-01T00:00:00Z"},
        ),
        ("POST", "/api/v1/incidents/{id}/reports", {"kind": "initial", "fields": {"support_requested": NUL}}),
        (
            "POST",
            "/api/v1/suppressions",
            {
                "name": NUL,
                "justification": "long enough",
                "rule_id": "r",
                "expires_at": "2099-01-01T00:00:00Z",
            },
        ),
    ],
)
async def test_bad_bodies_are_422(api: Api, method: str, path: str, body: dict[str, Any]) -> None:
    inc = await incident(api, title="target")
    r = await api.call(method, path.format(id=inc["id"]), json=body)
    assert r.status_code in (400, 409, 422), (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "path,params",
    [
        ("/api/v1/incidents", {"q": NUL}),
        ("/api/v1/incidents", {"category": NUL}),
        ("/api/v1/alert-groups", {"agency": NUL}),
        ("/api/v1/incidents", {"cursor": "not-a-cursor"}),
    ],
)
async def test_bad_queries_are_4xx(api: Api, path: str, params: dict[str, str]) -> None:
    r = await api.call("GET", path, params=params)
    assert r.status_code in (400, 422), (r.status_code, r.text)
