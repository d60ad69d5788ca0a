"""``/api/v1/auth``, ``/api/v1/me``, ``/api/v1/users``, ``/api/v1/tokens``, ``/api/v1/roles``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from citysoc.api.access.actor import Actor
from citysoc.api.access.deps import CurrentActor, Session, require
from citysoc.api.params import Cursor, IdPath, IdQuery, Limit, Text
from citysoc.api.users import service
from citysoc.api.users.models import (
    IssuedToken,
    LoginIn,
    LoginOut,
    Me,
    RoleOut,
    RolePut,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPage,
    UserPatch,
    UserSort,
)
from citysoc.core.config import Settings
from citysoc.db.enums import RANK, Action, Role

router = APIRouter(prefix="/api/v1")
UserReader = Annotated[Actor, Depends(require(Action.USER_READ))]
UserWriter = Annotated[Actor, Depends(require(Action.USER_WRITE))]
TokenOwner = Annotated[Actor, Depends(require(Action.TOKEN_OWN))]


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


@router.post("/auth/login", response_model=LoginOut, tags=["auth"])
async def login(request: Request, session: Session, body: LoginIn) -> LoginOut:
    hours = _settings(request).database.session_hours
    user, tok, clear = await service.login(session, body.username, body.password, hours)
    return LoginOut(token=clear, expires_at=tok.expires_at, user=UserOut.of(user))


@router.post("/auth/logout", status_code=204, tags=["auth"])
async def logout(actor: CurrentActor, session: Session) -> Response:
    await service.logout(session, actor)
    return Response(status_code=204)


@router.get("/me", response_model=Me, tags=["auth"])
async def me(actor: CurrentActor, session: Session) -> Me:
    user = await service.get(session, actor, actor.user_id) if actor.user_id is not None else None
    return Me(
        user=UserOut.of(user) if user else None,
        role=actor.role,
        agency_id=actor.agency_id,
        agency_code=actor.agency_code,
        actions=sorted(actor.actions),
    )


@router.get("/users", response_model=UserPage, tags=["users"])
async def list_users(
    actor: UserReader,
    session: Session,
    role: Role | None = None,
    agency_id: IdQuery = None,
    active: bool | None = None,
    q: Text = None,
    sort: UserSort = "username",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> UserPage:
    rows, nxt = await service.list_users(
        session,
        actor,
        role=role,
        agency_id=agency_id,
        active=active,
        q=q,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return UserPage(items=[UserOut.of(u) for u in rows], next_cursor=nxt)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
async def create_user(actor: UserWriter, session: Session, body: UserIn) -> UserOut:
    return UserOut.of(await service.create(session, actor, body))


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
async def get_user(actor: UserReader, session: Session, user_id: IdPath) -> UserOut:
    return UserOut.of(await service.get(session, actor, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
async def update_user(actor: UserWriter, session: Session, user_id: IdPath, body: UserPatch) -> UserOut:
    return UserOut.of(await service.update(session, actor, user_id, body))


@router.delete("/users/{user_id}", status_code=204, tags=["users"])
async def deactivate_user(actor: UserWriter, session: Session, user_id: IdPath) -> Response:
    await service.deactivate(session, actor, user_id)
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut], tags=["tokens"])
async def list_tokens(actor: TokenOwner, session: Session) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in await service.list_tokens(session, actor)]


@router.post("/tokens", response_model=IssuedToken, status_code=201, tags=["tokens"])
async def create_token(request: Request, actor: TokenOwner, session: Session, body: TokenIn) -> IssuedToken:
    max_days = _settings(request).database.api_token_max_days
    tok, clear = await service.create_token(session, actor, body, max_days)
    return IssuedToken.model_validate({**TokenOut.model_validate(tok).model_dump(), "token": clear})


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
async def revoke_token(actor: TokenOwner, session: Session, token_id: IdPath) -> Response:
    await service.revoke_token(session, actor, token_id)
    return Response(status_code=204)


@router.get("/roles", response_model=list[RoleOut], tags=["roles"])
async def list_roles(
    _: Annotated[Actor, Depends(require(Action.ROLE_READ))], session: Session
) -> list[RoleOut]:
    return [RoleOut(role=r, rank=RANK[r], actions=a) for r, a in (await service.roles(session)).items()]


@router.put("/roles/{role}", response_model=RoleOut, tags=["roles"])
async def set_role(
    actor: Annotated[Actor, Depends(require(Action.ROLE_WRITE))], session: Session, role: Role, body: RolePut
) -> RoleOut:
    return RoleOut(role=role, rank=RANK[role], actions=await service.set_role(session, actor, role, body))
