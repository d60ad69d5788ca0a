"""``POST /api/v1/hunts``: run Sigma rules over stored events (retro-hunt), admin token only.

Errors are problem+json: 422 when the body is invalid or none of its rules loads (``errors`` lists
each rule's reason), 503 when the store cannot be reached (retry later), 502 when the store
refuses the query.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from citysoc.api.deps import get_store
from citysoc.api.hunts import service
from citysoc.api.hunts.models import HuntIn, HuntOut
from citysoc.hunt.service import HuntError
from citysoc.store.base import Store, StoreError, StoreUnavailable
from citysoc.web.auth import Principal, require_admin
from citysoc.web.problems import problem

router = APIRouter(prefix="/api/v1/hunts", tags=["hunts"])


@router.post("", response_model=HuntOut)
async def create_hunt(
    req: HuntIn,
    _: Annotated[Principal, Depends(require_admin)],
    store: Annotated[Store, Depends(get_store)],
) -> HuntOut | JSONResponse:
    try:
        return await service.hunt(store, req)
    except service.RulesDidNotLoad as e:
        return problem(422, "Rules did not load", str(e), errors=[x.model_dump() for x in e.errors])
    except HuntError as e:
        return problem(422, "Invalid hunt", str(e))
    except StoreUnavailable as e:
        return problem(503, "Store unavailable", str(e), headers={"Retry-After": "5"})
    except StoreError as e:
        return problem(502, "Store error", str(e))
