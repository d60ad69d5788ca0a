"""Access: password login (argon2), session and API tokens (hashed, scoped, expiring, revocable),
ranked roles, permissions as data, and the config tokens that keep working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from citysoc.db import Token, User

from ..conftest import INGEST, PASSWORD, Api


async def test_login_stores_argon2_and_session_token_works(api: Api) -> None:
    user, token = await api.user("lan", "soc_analyst")
    async with api.db.session() as s:
        row = await s.get(User, user["id"])
        assert (
            row is not None and row.password_hash is not None and row.password_hash.startswith("$argon2id$")
        )
        digests = (await s.scalars(sa.select(Token.digest))).all()
    assert token not in digests and len(digests) == 1  # only the hash is stored
    me = await api.ok("GET", "/api/v1/me", token)
    assert me["user"]["username"] == "lan" and me["role"] == "soc_analyst" and "group.triage" in me["actions"]
    for body in (
        {"username": "lan", "password": "wrong password!"},
        {"username": "nobody", "password": PASSWORD},
    ):
        r = await api.client.post("/api/v1/auth/login", json=body)
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    await api.ok("POST", "/api/v1/auth/logout", token, status=204)
    assert (await api.call("GET", "/api/v1/me", token)).status_code == 401


async def test_api_tokens_are_scoped_expire_and_revoke(api: Api) -> None:
    _, session = await api.user("lead", "soc_lead")
    issued = await api.ok(
        "POST",
        "/api/v1/tokens",
        session,
        json={"name": "ci", "scopes": ["agency.read"], "expires_in_days": 1},
        status=201,
    )
    tok = issued["token"]
    assert issued["kind"] == "api" and tok.startswith(issued["prefix"])
    await api.ok("GET", "/api/v1/agencies", tok)
    r = await api.call("POST", "/api/v1/agencies", tok, json={"code": "x", "name": "x", "kind": "ward"})
    assert r.status_code == 403 and "agency.write" in r.json()["detail"]
    # A token cannot grant more than its creator holds.
    r = await api.call("POST", "/api/v1/tokens", session, json={"name": "x", "scopes": ["role.write"]})
    assert r.status_code == 403
    r = await api.call(
        "POST",
        "/api/v1/tokens",
        session,
        json={"name": "x", "scopes": ["agency.read"], "expires_in_days": 366},
    )
    assert r.status_code == 422  # beyond database.api_token_max_days
    listed = await api.ok("GET", "/api/v1/tokens", session)
    assert {t["kind"] for t in listed} == {"session", "api"} and all("token" not in t for t in listed)
    # Expiry.
    async with api.db.session() as s:
        row = await s.get(Token, issued["id"])
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        await s.commit()
    assert (await api.call("GET", "/api/v1/agencies", tok)).status_code == 401
    # Revocation.
    second = await api.ok(
        "POST", "/api/v1/tokens", session, json={"name": "b", "scopes": ["agency.read"]}, status=201
    )
    await api.ok("GET", "/api/v1/agencies", second["token"])
    await api.ok("DELETE", f"/api/v1/tokens/{second['id']}", session, status=204)
    assert (await api.call("GET", "/api/v1/agencies", second["token"])).status_code == 401


async def test_ranks_bound_who_may_manage_whom(api: Api) -> None:
    _, lead_token = await api.user("lead", "soc_lead")
    analyst, _ = await api.user("an", "soc_analyst")
    admin2, _ = await api.user("admin2", "city_soc_admin")
    r = await api.call(
        "POST", "/api/v1/users", lead_token, json={"username": "boss", "role": "city_soc_admin"}
    )
    assert r.status_code == 403
    r = await api.call("POST", "/api/v1/users", lead_token, json={"username": "peer", "role": "soc_lead"})
    assert r.status_code == 403
    await api.ok("PATCH", f"/api/v1/users/{analyst['id']}", lead_token, json={"role": "rule_author"})
    assert (
        await api.call("PATCH", f"/api/v1/users/{admin2['id']}", lead_token, json={"active": False})
    ).status_code == 403
    assert (
        await api.call("PATCH", f"/api/v1/users/{analyst['id']}", lead_token, json={"role": "soc_lead"})
    ).status_code == 403
    r = await api.call("POST", "/api/v1/users", json={"username": "officer1", "role": "agency_officer"})
    assert r.status_code == 422 and "agency" in r.json()["detail"]


async def test_deactivation_and_password_change_end_sessions(api: Api) -> None:
    u, token = await api.user("tam", "auditor")
    await api.ok("PATCH", f"/api/v1/users/{u['id']}", json={"password": "another long password"})
    assert (await api.call("GET", "/api/v1/me", token)).status_code == 401
    r = await api.client.post(
        "/api/v1/auth/login", json={"username": "tam", "password": "another long password"}
    )
    token = r.json()["token"]
    await api.ok("DELETE", f"/api/v1/users/{u['id']}", status=204)
    assert (await api.call("GET", "/api/v1/me", token)).status_code == 401
    r = await api.client.post(
        "/api/v1/auth/login", json={"username": "tam", "password": "another long password"}
    )
    assert r.status_code == 401


async def test_permissions_are_data(api: Api) -> None:
    _, token = await api.user("ra", "rule_author")
    await api.ok("GET", "/api/v1/agencies", token)
    roles = {r["role"]: r for r in await api.ok("GET", "/api/v1/roles", token)}
    assert roles["city_soc_admin"]["rank"] > roles["soc_lead"]["rank"] > roles["agency_officer"]["rank"]
    new = [a for a in roles["rule_author"]["actions"] if a != "agency.read"]
    await api.ok("PUT", "/api/v1/roles/rule_author", json={"actions": new})
    assert (await api.call("GET", "/api/v1/agencies", token)).status_code == 403  # applies to live tokens
    r = await api.call("PUT", "/api/v1/roles/city_soc_admin", json={"actions": ["agency.read"]})
    assert r.status_code == 422
    log = await api.ok("GET", "/api/v1/audit", params={"object_type": "role"})
    assert (
        "agency.read" in log["items"][0]["before"]["actions"]
        and "agency.read" not in log["items"][0]["after"]["actions"]
    )


async def test_config_tokens_keep_working(api: Api) -> None:
    me = await api.ok("GET", "/api/v1/me")
    assert me["user"] is None and me["role"] == "city_soc_admin"
    assert (await api.call("GET", "/api/v1/agencies", INGEST)).status_code == 403
    assert (await api.call("GET", "/api/v1/agencies", "cs_unknown")).status_code == 401
    assert (await api.client.get("/api/v1/agencies")).status_code == 401
    # The ClickHouse-backed routes: the config admin and database users allowed alert.read may read.
    await api.ok("GET", "/api/v1/alerts")
    _, analyst = await api.user("an", "soc_analyst")
    await api.ok("GET", "/api/v1/alerts", analyst)
    a = await api.agency("q1")
    _, officer = await api.user("off", "agency_officer", a["id"])
    assert (await api.call("GET", "/api/v1/alerts", officer)).status_code == 403
    assert (await api.call("GET", "/api/v1/alerts", INGEST)).status_code == 403
    # A config admin token is not a user: it cannot own API tokens.
    assert (
        await api.call("POST", "/api/v1/tokens", json={"name": "x", "scopes": ["agency.read"]})
    ).status_code == 403
