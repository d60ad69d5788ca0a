"""Hunts over the store, off the event loop (rule loading and matching are CPU-bound and synchronous)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from citysoc.api.hunts.models import HuntIn, HuntOut, LoadErrorOut, error_out
from citysoc.detection.engine import Engine
from citysoc.hunt.service import run_hunt, save_findings
from citysoc.store.base import Store


class RulesDidNotLoad(ValueError):
    def __init__(self, errors: list[LoadErrorOut]) -> None:
        super().__init__("no rule in the request could be loaded")
        self.errors = errors


def _hunt(store: Store, req: HuntIn) -> HuntOut:
    engine = Engine.from_sources([(Path(f"rule-{i}.yml"), text) for i, text in enumerate(req.rules)])
    if not engine.rules:
        raise RulesDidNotLoad([error_out(e.path.name, e.rule_id, e.title, e.reason) for e in engine.errors])
    now = datetime.now(UTC)
    hunt = run_hunt(store, engine, req.since, req.until, agency=req.agency, limit=req.limit, started_at=now)
    saved = len(save_findings(store, engine, hunt, now)) if req.save else 0
    return HuntOut.of(hunt, saved)


async def hunt(store: Store, req: HuntIn) -> HuntOut:
    return await asyncio.to_thread(_hunt, store, req)
