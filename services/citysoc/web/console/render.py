"""Rendering console pages: the Jinja2 environment, the page context (language, user, navigation,
CSRF token, flash message), security headers, and the route class that turns errors into pages.

Navigation is a list of ``NavItem`` with a visibility predicate per actor: pages that a role cannot
use are not offered (and their handlers refuse them anyway). Later slices (incidents, reports)
append their items with ``add_nav``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from citysoc.api.access.actor import Actor
from citysoc.db.enums import Action
from citysoc.web.console import i18n
from citysoc.web.console.session import (
    FLASH_COOKIE,
    LoginRequired,
    clear_cookie,
    session_csrf,
    set_cookie,
)

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
ENV = Environment(
    loader=PackageLoader("citysoc.web.console", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    path: str
    label: str
    """Catalog key of the link text."""
    visible: Callable[[Actor], bool]


NAV: list[NavItem] = [
    NavItem("alerts", "/alerts", "nav.alerts", lambda a: a.can(Action.GROUP_READ)),
    NavItem("agencies", "/registry/agencies", "nav.agencies", lambda a: a.can(Action.AGENCY_READ)),
    NavItem("systems", "/registry/systems", "nav.systems", lambda a: a.can(Action.SYSTEM_READ)),
    NavItem("monitoring", "/monitoring", "nav.monitoring", lambda a: a.can(Action.SYSTEM_READ)),
    NavItem("rules", "/rules", "nav.rules", lambda a: a.can(Action.ALERT_READ) and not a.scoped),
]


def add_nav(item: NavItem, after: str | None = None) -> None:
    keys = [n.key for n in NAV]
    if item.key in keys:
        return
    NAV.insert(keys.index(after) + 1 if after in keys else len(NAV), item)


def first_page(actor: Actor) -> str:
    return next((n.path for n in NAV if n.visible(actor)), "/account")


def url_with(request: Request, **changes: object) -> str:
    """The current path with query parameters changed (``None`` removes one; ``lang`` never kept)."""
    params = {k: v for k, v in request.query_params.multi_items() if k != "lang"}
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = str(v)
    q = urllib.parse.urlencode(params)
    return request.url.path + (f"?{q}" if q else "")


def _flash(request: Request, t: i18n.Translator) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = orjson.loads(urllib.parse.unquote(raw))
        key, values = data["k"], data.get("v", {})
        if not isinstance(key, str) or not key.startswith("flash.") or not t.has(key):
            return None
        return t(key, **{k: int(v) for k, v in values.items()})
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def flash(request: Request, response: Response, key: str, **values: int) -> None:
    """A one-time message (a catalog key with integer values) shown on the next page."""
    body = urllib.parse.quote(orjson.dumps({"k": key, "v": values}).decode())
    set_cookie(request, response, FLASH_COOKIE, body, 60)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    actor: Actor | None = None,
    status: int = 200,
    active: str = "",
) -> HTMLResponse:
    lang, from_query = i18n.choose(request)
    t = i18n.Translator(lang)
    token = request.cookies.get("citysoc_session", "")
    message = _flash(request, t)
    ctx: dict[str, Any] = {
        "t": t,
        "lang": lang,
        "langs": i18n.LANGS,
        "actor": actor,
        "nav": [n for n in NAV if actor is not None and n.visible(actor)],
        "active": active,
        "csrf": session_csrf(token) if actor is not None and token else "",
        "flash": message,
        "request": request,
        "url_with": lambda **kw: url_with(request, **kw),
        "Action": Action,
        "js_texts": {k[3:]: v for k, v in i18n.catalog(lang).items() if k.startswith("js.")},
        **context,
    }
    html = ENV.get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    if from_query:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, path="/", samesite="strict")
    if message is not None or FLASH_COOKIE in request.cookies:
        clear_cookie(request, response, FLASH_COOKIE)
    return response


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def redirect_with(request: Request, path: str, key: str, **values: int) -> RedirectResponse:
    """A redirect to ``path`` that shows the one-time message ``key`` there (see ``flash``)."""
    response = redirect(path)
    flash(request, response, key, **values)
    return response


_ERROR_KEYS = {400: "error.400", 403: "error.403", 404: "error.404", 409: "error.409", 422: "error.422"}


def error_page(request: Request, status: int) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"status": status, "key": _ERROR_KEYS.get(status, "error.other")},
        status=status,
    )


class ConsoleRoute(APIRoute):
    """Console routes answer in HTML: no session → redirect to /login, errors → an error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as e:
                return redirect("/login?" + urllib.parse.urlencode({"next": e.next_path}))
            except HTTPException as e:
                if 300 <= e.status_code < 400:
                    raise
                return error_page(request, e.status_code)
            except RequestValidationError:
                return error_page(request, 422)

        return route
