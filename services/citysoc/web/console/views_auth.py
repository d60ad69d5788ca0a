"""Login, logout, the language switch and the console's static files."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response

from citysoc.api.access.deps import Session
from citysoc.api.errors import Unauthorized
from citysoc.api.users import service as users
from citysoc.core.config import Settings
from citysoc.web.console import i18n
from citysoc.web.console.render import ConsoleRoute, first_page, redirect, render
from citysoc.web.console.session import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    ConsoleActor,
    LoginRequired,
    check_csrf,
    check_login_csrf,
    clear_cookie,
    console_actor,
    login_csrf,
    safe_next,
    set_cookie,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
Field = Annotated[str, Form(max_length=1000)]


def _login_page(request: Request, next_path: str, error: bool = False, username: str = "") -> Response:
    token, new = login_csrf(request)
    ctx = {"login_csrf": token, "next": safe_next(next_path, ""), "error": error, "username": username}
    response = render(request, "login.html", ctx, status=401 if error else 200)
    if new:
        set_cookie(request, response, CSRF_COOKIE, token, 3600)
    return response


@router.get("/")
async def home(actor: ConsoleActor) -> Response:
    return redirect(first_page(actor))


@router.get("/login")
async def login_form(request: Request, session: Session, next: str = "") -> Response:
    try:  # already logged in: straight on
        actor = await console_actor(request, session)
        return redirect(safe_next(next, first_page(actor)))
    except LoginRequired:
        return _login_page(request, next)


@router.post("/login")
async def login(
    request: Request,
    session: Session,
    username: Annotated[str, Form(max_length=100)],
    password: Field,
    csrf: Field = "",
    next: Field = "",
) -> Response:
    check_login_csrf(request, csrf)
    settings: Settings = request.app.state.settings
    if not username or not password:
        return _login_page(request, next, error=True, username=username)
    try:
        _user, tok, clear = await users.login(session, username, password, settings.database.session_hours)
    except Unauthorized:
        return _login_page(request, next, error=True, username=username)
    response = redirect(safe_next(next, "/"))
    ttl = int((tok.expires_at - datetime.now(UTC)).total_seconds())  # the cookie ends with the token
    set_cookie(request, response, SESSION_COOKIE, clear, max(ttl, 1))
    clear_cookie(request, response, CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, session: Session, actor: ConsoleActor, csrf: Field = "") -> Response:
    check_csrf(request, csrf)
    if actor.token_id is not None:
        await users.logout(session, actor)
    response = redirect("/login")
    clear_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/lang/{lang}")
async def switch_language(request: Request, lang: str, next: str = "/") -> Response:
    """Set the language cookie and go back (a link, so it works without JavaScript)."""
    chosen = i18n.parse_lang(lang)
    if chosen is None:
        raise HTTPException(404, "language")
    response = redirect(safe_next(next, "/"))
    response.set_cookie(i18n.COOKIE, chosen, max_age=365 * 86400, path="/", samesite="strict")
    return response


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The console's own CSS and JavaScript (no CDN, no third-party code)."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in STATIC_TYPES or "/" in name or name.startswith("."):
        raise HTTPException(404, "static file")
    file = resources.files(__package__).joinpath("static", name)
    if not file.is_file():
        raise HTTPException(404, "static file")
    return Response(
        file.read_bytes(),
        media_type=STATIC_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
