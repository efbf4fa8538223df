"""`GET /v1/keys/me`: which key the caller holds and what it may do (the app disables what it may not)."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import Predictor
from serving.read_models import KeyInfo

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("/me", summary="The name and scopes of the key this request was made with")
async def me(caller: Predictor) -> KeyInfo:
    return KeyInfo(name=caller.name, scopes=sorted(caller.scopes))
