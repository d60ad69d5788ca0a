"""Dependencies shared by the API's domain routers."""

from __future__ import annotations

from fastapi import Request

from citysoc.store.base import Store


def get_store(request: Request) -> Store:
    """The process's store (set on ``app.state`` by ``create_api``)."""
    store: Store = request.app.state.store
    return store
