"""Bearer-token authentication. Every ``/api/v1`` route depends on one of these.

Tokens come from the config file (digests only). An agency ingest token identifies its agency;
the admin token reads everything. The API process also accepts the database's user tokens: it puts a
resolver on ``app.state.token_resolver`` (see ``citysoc.api.access``) that maps a user token to
``admin`` (may read every agency's alerts) or ``user`` (may not use these routes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request

from citysoc.core.config import Settings

Role = Literal["admin", "ingest", "user"]


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    agency: str | None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


TokenResolver = Callable[[str], Awaitable[Principal | None]]


async def principal(request: Request) -> Principal:
    settings: Settings = request.app.state.settings
    token = _bearer(request)
    if settings.is_admin_token(token):
        return Principal("admin", None)
    agency = settings.agency_for_token(token)
    if agency is not None:
        return Principal("ingest", agency.code)
    resolver: TokenResolver | None = getattr(request.app.state, "token_resolver", None)
    if resolver is not None and (p := await resolver(token)) is not None:
        return p
    raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def require_admin(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if p.role != "admin":
        raise HTTPException(403, "this token may not read alerts")
    return p


def require_ingest(p: Annotated[Principal, Depends(principal)]) -> Principal:
    if p.role != "ingest" or p.agency is None:
        raise HTTPException(403, "ingest needs an agency ingest token (the agency comes from the token)")
    return p
