"""The HTTP shell every citysoc process shares: ``/healthz`` and ``/metrics`` at the root, problem+json
errors, request counting, and settings/store on ``app.state``. Domain routers are added by the role."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from citysoc.core import metrics
from citysoc.core.config import Settings
from citysoc.web import problems

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def create_app(title: str, settings: Settings, health: HealthCheck | None = None, **state: Any) -> FastAPI:
    app = FastAPI(
        title=title, version="1", openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None
    )
    app.state.settings = settings
    for k, v in state.items():
        setattr(app.state, k, v)
    problems.install(app)

    @app.middleware("http")
    async def _count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.HTTP_REQUESTS.labels(path, request.method, str(response.status_code)).inc()
        return response

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        t0 = time.perf_counter()
        detail = await health() if health else {}
        ok = all(v is not False for v in detail.values())
        body = {
            "status": "ok" if ok else "degraded",
            "checks": detail,
            "ms": round((time.perf_counter() - t0) * 1000, 1),
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return app
