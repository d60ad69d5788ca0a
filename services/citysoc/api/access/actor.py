"""Actors and token resolution.

Contract:

* A config admin token (``auth.admin_tokens``) is the city SOC admin with every action and no user
  row (it cannot own API tokens). Agency ingest tokens are not actors: they only send events.
* A database token (session or API) resolves when it exists, is neither revoked nor expired and
  its user is active. Its actions are the role's current permissions intersected with the token's
  scopes, so a role change or a permission change applies to every token at once.
* An agency officer is *scoped*: every query they make is restricted to their agency.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from citysoc.db import Agency, RolePermission, Token, User
from citysoc.db.enums import Action, Role

TOKEN_PREFIX = "cs_"
LAST_USED_GRANULARITY = timedelta(minutes=1)
_KNOWN = frozenset(a.value for a in Action)


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    username: str
    role: Role
    agency_id: int | None
    agency_code: str | None
    actions: frozenset[Action]
    token_id: int | None = None

    @property
    def scoped(self) -> bool:
        """Agency officers see and change their own agency's objects only."""
        return self.role == Role.AGENCY_OFFICER

    @property
    def label(self) -> str:
        return f"user:{self.user_id}:{self.username}" if self.user_id is not None else self.username

    def can(self, action: Action) -> bool:
        return action in self.actions


CONFIG_ADMIN = Actor(None, "config-admin", Role.CITY_SOC_ADMIN, None, None, frozenset(Action))
SYSTEM = Actor(None, "system", Role.CITY_SOC_ADMIN, None, None, frozenset(Action))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def role_actions(session: AsyncSession, role: Role) -> frozenset[Action]:
    rows = await session.scalars(sa.select(RolePermission.action).where(RolePermission.role == role))
    return frozenset(Action(a) for a in rows if a in _KNOWN)


async def resolve(session: AsyncSession, token: str, now: datetime) -> Actor | None:
    """The actor a database token stands for, or ``None`` (unknown, revoked, expired, inactive).
    Touches ``last_used_at`` at most once a minute (the caller commits)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = (
        await session.execute(
            sa.select(Token, User, Agency.code)
            .join(User, User.id == Token.user_id)
            .outerjoin(Agency, Agency.id == User.agency_id)
            .where(Token.digest == digest(token))
        )
    ).one_or_none()
    if row is None:
        return None
    tok, user, agency_code = row
    if tok.revoked_at is not None or tok.expires_at <= now or not user.active:
        return None
    actions = await role_actions(session, user.role)
    actions &= frozenset(Action(s) for s in tok.scopes if s in _KNOWN)
    if tok.last_used_at is None or now - tok.last_used_at >= LAST_USED_GRANULARITY:
        tok.last_used_at = now
    return Actor(user.id, user.username, user.role, user.agency_id, agency_code, actions, tok.id)
