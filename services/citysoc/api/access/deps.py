"""FastAPI dependencies: the database session of a request, the calling actor, permission checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import CONFIG_ADMIN, Actor, resolve
from citysoc.core.config import Settings
from citysoc.db import Database
from citysoc.db.enums import Action
from citysoc.web.auth import Principal

_INVALID = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_session(db: Annotated[Database, Depends(get_db)]) -> AsyncIterator[AsyncSession]:
    """One session per request (shared by every dependency of the request); uncommitted changes are
    rolled back when the request ends."""
    async with db.session() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


def bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


async def current_actor(request: Request, session: Session) -> Actor:
    token = bearer(request)
    settings: Settings = request.app.state.settings
    if settings.is_admin_token(token):
        return CONFIG_ADMIN
    if settings.agency_for_token(token) is not None:
        raise HTTPException(403, "agency ingest tokens may only send events")
    actor = await resolve(session, token, datetime.now(UTC))
    if actor is None:
        raise HTTPException(401, "invalid, expired or revoked token", headers=_INVALID)
    if session.dirty:
        await session.commit()
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]


def require(action: Action) -> Callable[[Actor], Actor]:
    """A dependency that admits actors allowed ``action`` (403 otherwise)."""

    def check(actor: CurrentActor) -> Actor:
        if not actor.can(action):
            raise HTTPException(403, f"role {actor.role.value} (or this token's scope) lacks {action.value}")
        return actor

    return check


def install(app: FastAPI, db: Database) -> None:
    """Put ``db`` on the app and let the config-token routes (alerts, events, monitoring) accept
    database tokens: unscoped actors allowed ``alert.read`` read as ``admin``, anyone else as ``user``."""
    app.state.db = db

    async def resolver(token: str) -> Principal | None:
        async with db.session() as session:
            actor = await resolve(session, token, datetime.now(UTC))
            await session.commit()
        if actor is None:
            return None
        if actor.can(Action.ALERT_READ) and not actor.scoped:
            return Principal("admin", None)
        return Principal("user", actor.agency_code)

    app.state.token_resolver = resolver
