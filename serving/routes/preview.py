"""`POST …/datasets/preview`: an upload read with the spec and checked, with nothing stored or announced."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from serving.config import get_serving_settings
from serving.deps import PlatformDep, Predictor, SeriesSpecDep
from serving.read_models import UploadPreview
from serving.upload_preview import preview_upload

router = APIRouter(prefix="/v1/pipelines", tags=["datasets and training"])


@router.post(
    "/{pipeline}/datasets/preview",
    summary="Read a file with the pipeline's spec and show what ingestion would make of it; nothing is stored",
    description="First rows as parsed, the columns found against those the spec expects, values and rows "
    "ingestion would drop and why, and the raw asset's blocking checks run on the file.",
    responses={
        409: {"description": "The pipeline does not take files"},
        413: {"description": "Body over the limit"},
        415: {"description": "Neither CSV text nor Parquet"},
        422: {"description": "The spec cannot read the file (the problem is named)"},
    },
    max_body_size=get_serving_settings().max_upload_bytes,
)
async def preview_dataset(
    spec: SeriesSpecDep,
    platform: PlatformDep,
    caller: Predictor,
    file: Annotated[UploadFile, File(description="CSV in the spec's declared format, or Parquet.")],
) -> UploadPreview:
    content = await file.read()
    return await asyncio.to_thread(preview_upload, content, file.filename, spec)
