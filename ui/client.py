"""The analyst app's one way to the platform: a typed client of the prediction API (httpx).

Every method returns the API's own response models (`serving.schemas`, `serving.read_models`); every
failure is an `ApiError` carrying the API's problem details and one sentence on what to do about it."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import httpx
from pydantic import BaseModel, Field, TypeAdapter

from pipelines.spec import PipelineSpec, TabularSpec
from serving.read_models import (
    DataQuality,
    ExceedanceRisk,
    ForecastPaths,
    KeyInfo,
    ModelVersions,
    PipelineRuns,
    RollbackResult,
    StationHistory,
    Stations,
    UploadPreview,
)
from serving.schemas import Accepted, FeedbackAccepted, PipelineSummary, TaskStatus

M = TypeVar("M", bound=BaseModel)
PIPELINES = TypeAdapter(list[PipelineSummary])
SPEC = TypeAdapter(Annotated[PipelineSpec | TabularSpec, Field(discriminator="kind")])


class ApiError(Exception):
    """What went wrong (the API's problem `detail`, or why it could not be reached) and what to do."""

    def __init__(self, status: int, detail: str, advice: str, retry_after: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.advice = advice
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.detail.rstrip('.')}. {self.advice}"


def advice_for(status: int, retry_after: str | None) -> str:
    if status == 401:
        return (
            "Paste a valid API key in the sidebar (or set MLOPS_UI_API_KEY); "
            "`mlops api-key create NAME --scopes predict` makes one."
        )
    if status == 403:
        return "Use a key with the admin scope for this (`mlops api-key create NAME --scopes admin`)."
    if status == 503:
        return f"Try again in {retry_after or 'a few'} seconds; the API's /readyz says what is missing."
    if status >= 500:
        return "The API logged the error with this request's id; try again, and tell the platform team if it stays."
    return "Change the request and try again."


class ApiClient:
    def __init__(self, base_url: str, api_key: str | None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ApiError(
                0,
                f"The prediction API at {self.base_url} did not answer in time",
                "It may be busy or starting; try again in a moment.",
            ) from None
        except httpx.HTTPError as exc:
            raise ApiError(
                0,
                f"The prediction API at {self.base_url} cannot be reached ({type(exc).__name__})",
                "Start it (`make up` or `mlops serve`), or point MLOPS_UI_API_URL at it.",
            ) from None
        if response.status_code >= 400:
            retry_after = response.headers.get("retry-after")
            try:
                detail = response.json().get("detail") or response.reason_phrase
            except ValueError:
                detail = f"{response.status_code} {response.reason_phrase}"
            raise ApiError(
                response.status_code, str(detail), advice_for(response.status_code, retry_after), retry_after
            )
        return response

    def _get(self, path: str, model: type[M], **params: Any) -> M:
        clean = {k: v for k, v in params.items() if v is not None}
        return model.model_validate_json(self._send("GET", path, params=clean).content)

    # reading
    def ready(self) -> dict[str, Any]:
        """/readyz whatever its status (503 means no model loaded yet, not an error here)."""
        try:
            return self.http.get("/readyz").json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ApiError(
                0,
                f"The prediction API at {self.base_url} cannot be reached ({type(exc).__name__})",
                "Start it (`make up` or `mlops serve`), or point MLOPS_UI_API_URL at it.",
            ) from None

    def me(self) -> KeyInfo:
        return self._get("/v1/keys/me", KeyInfo)

    def pipelines(self) -> list[PipelineSummary]:
        return PIPELINES.validate_json(self._send("GET", "/v1/pipelines").content)

    def spec(self, pipeline: str) -> PipelineSpec | TabularSpec:
        return SPEC.validate_json(self._send("GET", f"/v1/pipelines/{pipeline}/spec").content)

    def stations(self, pipeline: str) -> Stations:
        return self._get(f"/v1/pipelines/{pipeline}/stations", Stations)

    def history(
        self, pipeline: str, station: str, start: str | None = None, end: str | None = None
    ) -> StationHistory:
        return self._get(
            f"/v1/pipelines/{pipeline}/history", StationHistory, station=station, start=start, end=end
        )

    def forecasts(
        self, pipeline: str, stations: list[str] | None = None, task: str | None = None
    ) -> ForecastPaths:
        return self._get(f"/v1/pipelines/{pipeline}/forecasts", ForecastPaths, station=stations, task=task)

    def exceedance(
        self, pipeline: str, stations: list[str] | None = None, task: str | None = None
    ) -> ExceedanceRisk:
        return self._get(f"/v1/pipelines/{pipeline}/exceedance", ExceedanceRisk, station=stations, task=task)

    def versions(self, pipeline: str, task: str) -> ModelVersions:
        return self._get(f"/v1/pipelines/{pipeline}/models/{task}/versions", ModelVersions)

    def quality(
        self, pipeline: str, start: str | None = None, end: str | None = None, station: str | None = None
    ) -> DataQuality:
        return self._get(
            f"/v1/pipelines/{pipeline}/quality", DataQuality, start=start, end=end, station=station
        )

    def runs(self, pipeline: str) -> PipelineRuns:
        return self._get(f"/v1/pipelines/{pipeline}/runs", PipelineRuns)

    def task(self, task_id: str) -> TaskStatus:
        return self._get(f"/v1/tasks/{task_id}", TaskStatus)

    # acting
    def preview(self, pipeline: str, filename: str, content: bytes) -> UploadPreview:
        response = self._send(
            "POST", f"/v1/pipelines/{pipeline}/datasets/preview", files={"file": (filename, content)}
        )
        return UploadPreview.model_validate_json(response.content)

    def upload(self, pipeline: str, filename: str, content: bytes) -> Accepted:
        response = self._send(
            "POST", f"/v1/pipelines/{pipeline}/datasets", files={"file": (filename, content)}
        )
        return Accepted.model_validate_json(response.content)

    def train(self, pipeline: str, task: str, algorithm: str | None, params: dict[str, Any]) -> Accepted:
        body = {"task": task, "algorithm": algorithm, "params": params}
        return Accepted.model_validate_json(
            self._send("POST", f"/v1/pipelines/{pipeline}/training", json=body).content
        )

    def rollback(self, pipeline: str, task: str, to_version: str | None) -> RollbackResult:
        response = self._send(
            "POST", f"/v1/pipelines/{pipeline}/models/{task}/rollback", json={"to_version": to_version}
        )
        return RollbackResult.model_validate_json(response.content)

    def predict_rows(
        self, pipeline: str, rows: list[dict[str, Any]], task: str | None = None
    ) -> dict[str, Any]:
        """A tabular pipeline's predictions for raw rows (label, probability, prediction set, …)."""
        return self._send(
            "POST", f"/v1/pipelines/{pipeline}/predict", json={"task": task, "rows": rows}
        ).json()

    def feedback(
        self, prediction_id: str, observed: float | str, target: str | None = None
    ) -> FeedbackAccepted:
        body = {"prediction_id": prediction_id, "observed": observed, "target": target}
        return FeedbackAccepted.model_validate_json(self._send("POST", "/v1/feedback", json=body).content)
