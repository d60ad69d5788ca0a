"""Users, login sessions, API tokens and the role → action table; every change is audited.

Rules:

* A user may create or change only users ranked below themselves (the city SOC admin: anyone),
  and may not give a role ranked at or above their own (admin excepted).
* An agency officer must belong to an agency; a scoped actor only sees and manages its agency's users.
* Deleting a user deactivates it and revokes its tokens (rows stay: the audit log names them).
* API tokens carry scopes, a subset of what their creator may do at creation time; they expire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.api.access.actor import Actor, digest, new_token, role_actions
from citysoc.api.access.passwords import hash_password, needs_rehash, verify_password
from citysoc.api.audit.service import append
from citysoc.api.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from citysoc.api.paging import SortKey, paginate
from citysoc.api.users.models import RolePut, TokenIn, UserIn, UserPatch
from citysoc.db import Agency, RolePermission, Token, User
from citysoc.db.base import as_dict
from citysoc.db.enums import RANK, Action, Role, TokenKind

FIELDS = ("id", "username", "display_name", "email", "role", "agency_id", "active")
TOKEN_FIELDS = ("id", "user_id", "kind", "name", "prefix", "scopes", "expires_at", "revoked_at")
SORTS = {"username": SortKey(User.username, "str"), "created_at": SortKey(User.created_at, "datetime")}


def _may_manage(actor: Actor, role: Role) -> None:
    if actor.role != Role.CITY_SOC_ADMIN and RANK[role] >= RANK[actor.role]:
        raise Forbidden(f"{actor.role.value} may not manage users with role {role.value}")


def scope(stmt: sa.Select[User], actor: Actor) -> sa.Select[User]:
    return stmt.where(User.agency_id == actor.agency_id) if actor.scoped else stmt


async def get(session: AsyncSession, actor: Actor, user_id: int) -> User:
    row = (await session.scalars(scope(sa.select(User), actor).where(User.id == user_id))).first()
    if row is None:
        raise NotFound("user")
    return row


async def list_users(
    session: AsyncSession,
    actor: Actor,
    *,
    role: Role | None,
    agency_id: int | None,
    active: bool | None,
    q: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[User], str | None]:
    stmt = scope(sa.select(User), actor)
    if role is not None:
        stmt = stmt.where(User.role == role)
    if agency_id is not None:
        stmt = stmt.where(User.agency_id == agency_id)
    if active is not None:
        stmt = stmt.where(User.active == active)
    if q:
        stmt = stmt.where(
            sa.or_(
                User.username.icontains(q, autoescape=True), User.display_name.icontains(q, autoescape=True)
            )
        )
    return await paginate(session, stmt, id_col=User.id, keys=SORTS, sort=sort, limit=limit, cursor=cursor)


async def _check_agency(session: AsyncSession, actor: Actor, role: Role, agency_id: int | None) -> None:
    if role == Role.AGENCY_OFFICER and agency_id is None:
        raise Invalid("an agency officer needs agency_id")
    if agency_id is not None and await session.get(Agency, agency_id) is None:
        raise Invalid(f"agency {agency_id} does not exist")
    if actor.scoped and agency_id != actor.agency_id:
        raise Forbidden("agency officers may only manage their own agency's users")


async def create(session: AsyncSession, actor: Actor, data: UserIn) -> User:
    _may_manage(actor, data.role)
    await _check_agency(session, actor, data.role, data.agency_id)
    if await session.scalar(sa.select(User.id).where(User.username == data.username)) is not None:
        raise Conflict(f"username {data.username!r} exists")
    pw = await asyncio.to_thread(hash_password, data.password) if data.password else None
    row = User(
        username=data.username,
        display_name=data.display_name,
        email=data.email,
        role=data.role,
        agency_id=data.agency_id,
        password_hash=pw,
    )
    session.add(row)
    await session.flush()
    await append(
        session, actor, "user.create", "user", row.id, agency=actor.agency_code, after=as_dict(row, FIELDS)
    )
    await session.commit()
    return row


async def _revoke_all(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        sa.update(Token).where(Token.user_id == user_id, Token.revoked_at.is_(None)).values(revoked_at=now)
    )


async def update(session: AsyncSession, actor: Actor, user_id: int, data: UserPatch) -> User:
    row = await get(session, actor, user_id)
    _may_manage(actor, row.role)
    changes = data.model_dump(exclude_unset=True)
    for k in ("role", "active", "display_name"):
        if k in changes and changes[k] is None:
            raise Invalid(f"{k} cannot be null")
    role = changes.get("role", row.role)
    _may_manage(actor, role)
    await _check_agency(session, actor, role, changes.get("agency_id", row.agency_id))
    before = as_dict(row, FIELDS)
    password = changes.pop("password", None)
    for k, v in changes.items():
        setattr(row, k, v)
    now = datetime.now(UTC)
    if password is not None:
        row.password_hash = await asyncio.to_thread(hash_password, password)
        await _revoke_all(session, row.id, now)  # a new password ends every session
    if changes.get("active") is False:
        await _revoke_all(session, row.id, now)
    after = as_dict(row, FIELDS) | ({"password": "changed"} if password is not None else {})
    await append(
        session, actor, "user.update", "user", row.id, agency=actor.agency_code, before=before, after=after
    )
    await session.commit()
    return row


async def deactivate(session: AsyncSession, actor: Actor, user_id: int) -> None:
    row = await get(session, actor, user_id)
    _may_manage(actor, row.role)
    before = as_dict(row, FIELDS)
    row.active = False
    await _revoke_all(session, row.id, datetime.now(UTC))
    await append(session, actor, "user.deactivate", "user", row.id, before=before, after=as_dict(row, FIELDS))
    await session.commit()


# --- login and tokens -------------------------------------------------------------------------------


async def _issue(
    session: AsyncSession, user: User, kind: TokenKind, name: str, scopes: Sequence[Action], expires: datetime
) -> tuple[Token, str]:
    clear = new_token()
    tok = Token(
        user_id=user.id,
        kind=kind,
        name=name,
        digest=digest(clear),
        prefix=clear[:10],
        scopes=sorted(a.value for a in scopes),
        expires_at=expires,
    )
    session.add(tok)
    await session.flush()
    return tok, clear


async def login(session: AsyncSession, username: str, password: str, hours: float) -> tuple[User, Token, str]:
    """A session token for an active user whose password matches. Every failure is the same 401 and
    costs one argon2 verification, so usernames cannot be probed."""
    user = (await session.scalars(sa.select(User).where(User.username == username))).first()
    stored = user.password_hash if user is not None and user.active else None
    if not await asyncio.to_thread(verify_password, stored, password) or user is None or stored is None:
        raise Unauthorized("unknown user or wrong password")
    now = datetime.now(UTC)
    if needs_rehash(stored):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    user.last_login_at = now
    actions = await role_actions(session, user.role)
    tok, clear = await _issue(
        session, user, TokenKind.SESSION, "login", sorted(actions), now + timedelta(hours=hours)
    )
    actor = Actor(user.id, user.username, user.role, user.agency_id, None, actions)
    await append(session, actor, "user.login", "token", tok.id, after=as_dict(tok, TOKEN_FIELDS))
    await session.commit()
    return user, tok, clear


async def logout(session: AsyncSession, actor: Actor) -> None:
    if actor.token_id is None:
        raise Invalid("config tokens cannot log out")
    await revoke_token(session, actor, actor.token_id)


async def create_token(
    session: AsyncSession, actor: Actor, data: TokenIn, max_days: int
) -> tuple[Token, str]:
    if actor.user_id is None:
        raise Forbidden("a config admin token cannot own API tokens: log in as a user")
    if data.expires_in_days > max_days:
        raise Invalid(f"expires_in_days may be at most {max_days}")
    if extra := sorted(set(data.scopes) - actor.actions):
        raise Forbidden(f"you may not grant actions you do not hold: {', '.join(extra)}")
    user = await session.get(User, actor.user_id)
    if user is None:
        raise NotFound("user")
    expires = datetime.now(UTC) + timedelta(days=data.expires_in_days)
    tok, clear = await _issue(session, user, TokenKind.API, data.name, data.scopes, expires)
    await append(session, actor, "token.create", "token", tok.id, after=as_dict(tok, TOKEN_FIELDS))
    await session.commit()
    return tok, clear


async def list_tokens(session: AsyncSession, actor: Actor) -> Sequence[Token]:
    if actor.user_id is None:
        return []
    return (
        await session.scalars(sa.select(Token).where(Token.user_id == actor.user_id).order_by(Token.id))
    ).all()


async def revoke_token(session: AsyncSession, actor: Actor, token_id: int) -> None:
    """Own tokens; with ``user.write``, also tokens of users one may manage (in scope)."""
    tok = await session.get(Token, token_id)
    if tok is None:
        raise NotFound("token")
    if tok.user_id != actor.user_id:
        owner = (await session.scalars(scope(sa.select(User), actor).where(User.id == tok.user_id))).first()
        if owner is None or not actor.can(Action.USER_WRITE):
            raise NotFound("token")
        _may_manage(actor, owner.role)
    if tok.revoked_at is None:
        before = as_dict(tok, TOKEN_FIELDS)
        tok.revoked_at = datetime.now(UTC)
        await append(
            session, actor, "token.revoke", "token", tok.id, before=before, after=as_dict(tok, TOKEN_FIELDS)
        )
    await session.commit()


# --- roles ------------------------------------------------------------------------------------------


async def roles(session: AsyncSession) -> dict[Role, list[Action]]:
    out: dict[Role, list[Action]] = {r: [] for r in Role}
    for role, action in (await session.execute(sa.select(RolePermission.role, RolePermission.action))).all():
        if action in Action._value2member_map_:
            out[role].append(Action(action))
    return {r: sorted(a) for r, a in out.items()}


async def set_role(session: AsyncSession, actor: Actor, role: Role, data: RolePut) -> list[Action]:
    new = sorted(set(data.actions))
    if role == Role.CITY_SOC_ADMIN and not {Action.ROLE_WRITE, Action.USER_WRITE} <= set(new):
        raise Invalid("the city SOC admin must keep role.write and user.write (or nobody could undo this)")
    if actor.role != Role.CITY_SOC_ADMIN and RANK[role] >= RANK[actor.role]:
        raise Forbidden(f"{actor.role.value} may not change the permissions of {role.value}")
    before = (await roles(session))[role]
    await session.execute(sa.delete(RolePermission).where(RolePermission.role == role))
    session.add_all(RolePermission(role=role, action=a.value) for a in new)
    await append(
        session,
        actor,
        "role.update",
        "role",
        role.value,
        before={"actions": [a.value for a in before]},
        after={"actions": [a.value for a in new]},
    )
    await session.commit()
    return new
