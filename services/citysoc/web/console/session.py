"""The console's login session: a cookie holding a database session token, and CSRF protection.

Contract:

* ``citysoc_session`` holds the session token ``POST /login`` obtained from the password login of
  ``citysoc.api.users``; it is HttpOnly, SameSite=Strict, Path=/, Secure when served over HTTPS, and
  lives as long as the token. The token resolves like any bearer token (revocation, expiry, role and
  permission changes apply at once).
* Every state-changing form carries a CSRF token and every POST checks it (403 otherwise): before
  login, a random token double-submitted in the ``citysoc_csrf`` cookie; after login, an HMAC of the
  session token (which page scripts cannot read), so no other site can forge a form. A POST whose
  ``Origin`` header names another origin is refused as well.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response

from citysoc.api.access.actor import Actor, resolve
from citysoc.api.access.deps import Session

SESSION_COOKIE = "citysoc_session"
CSRF_COOKIE = "citysoc_csrf"
FLASH_COOKIE = "citysoc_flash"
_CSRF_CONTEXT = b"citysoc-console-csrf"


class LoginRequired(Exception):
    """Raised by the console dependencies; the console routes answer with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure(request))


def session_csrf(session_token: str) -> str:
    return hmac.new(session_token.encode(), _CSRF_CONTEXT, hashlib.sha256).hexdigest()[:40]


def login_csrf(request: Request) -> tuple[str, bool]:
    """The pre-login CSRF token (from the cookie, or new) and whether the cookie must be set."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) >= 32:
        return current, False
    return secrets.token_urlsafe(32), True


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # "null" (sandboxed or privacy-redirected) is never ours
    return origin.rstrip("/") == f"{request.url.scheme}://{request.url.netloc}"


def check_login_csrf(request: Request, submitted: str) -> None:
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not (_same_origin(request) and expected and hmac.compare_digest(expected, submitted)):
        raise HTTPException(403, "csrf")


def check_csrf(request: Request, submitted: str) -> None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not (_same_origin(request) and token and hmac.compare_digest(session_csrf(token), submitted)):
        raise HTTPException(403, "csrf")


def safe_next(path: str | None, default: str = "/alerts") -> str:
    """A local path to go to after login or an action (never another host: no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or "\n" in path:
        return default
    return path


def here(request: Request) -> str:
    q = request.url.query
    return request.url.path + (f"?{q}" if q else "")


async def console_actor(request: Request, session: Session) -> Actor:
    """The logged-in user of a console request; ``LoginRequired`` when there is none."""
    token = request.cookies.get(SESSION_COOKIE)
    actor = await resolve(session, token, datetime.now(UTC)) if token else None
    if actor is None:
        raise LoginRequired(here(request) if request.method == "GET" else "/alerts")
    if session.dirty:
        await session.commit()
    return actor


ConsoleActor = Annotated[Actor, Depends(console_actor)]
