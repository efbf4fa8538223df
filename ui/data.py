"""What every page shares: the API client (one per URL and key, `st.cache_resource`), answers cached on
the versions the API reports (`st.cache_data`: a promotion or new data changes the key, so it shows at
once and nothing is fetched again while nothing changed), and one way to show a failure."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import altair as alt
import streamlit as st

from pipelines.spec import PipelineSpec, TabularSpec
from serving.read_models import (
    ExceedanceRisk,
    ForecastPaths,
    KeyInfo,
    ModelVersions,
    StationHistory,
    Stations,
)
from serving.schemas import PipelineSummary
from ui.client import ApiClient, ApiError
from ui.settings import UiSettings, configured_key

KEY_STATE = "api_key"


@st.cache_resource(show_spinner=False)
def _client(url: str, key: str | None, timeout: float) -> ApiClient:
    return ApiClient(url, key, timeout)


def api() -> ApiClient:
    """The client for this session's key (the one pasted in the sidebar, else the configured one)."""
    settings = UiSettings()
    key = st.session_state.get(KEY_STATE) or configured_key(settings)
    return _client(settings.api_url, key, settings.timeout_seconds)


@contextlib.contextmanager
def shown_failures(stop: bool = True) -> Iterator[None]:
    """An `ApiError` inside the block becomes one error box (what happened, what to do), never a traceback;
    with `stop`, the rest of the page is skipped (the other pages keep working)."""
    try:
        yield
    except ApiError as exc:
        st.error(str(exc), icon=":material/error:")
        if stop:
            st.stop()


def caller() -> KeyInfo:
    """The key's name and scopes, asked once per key and session; an `ApiError` without a usable key."""
    client = api()
    known = st.session_state.get("_caller")
    if known and known[0] == id(client):
        return known[1]
    info = client.me()
    st.session_state["_caller"] = (id(client), info)
    return info


def is_admin() -> bool:
    try:
        return "admin" in caller().scopes
    except ApiError:
        return False


def pipelines(kind: str | None = None) -> list[PipelineSummary]:
    """Pipelines (of one kind: `timeseries`, `tabular`), champions and data versions: asked on every run,
    it is what the caches are keyed on."""
    return [s for s in api().pipelines() if kind is None or s.kind == kind]


def champion(summary: PipelineSummary, task: str) -> str | None:
    return next((t.champion_version for t in summary.tasks if t.name == task), None)


@st.cache_data(show_spinner=False, max_entries=32)
def spec(_client: ApiClient, url: str, pipeline: str) -> PipelineSpec | TabularSpec:
    return _client.spec(pipeline)


@st.cache_data(show_spinner=False, max_entries=32)
def stations(_client: ApiClient, url: str, pipeline: str, features_version: str | None) -> Stations:
    return _client.stations(pipeline)


@st.cache_data(show_spinner=False, max_entries=64)
def forecast_paths(
    _client: ApiClient, url: str, pipeline: str, task: str, champion_version: str | None, data: str
) -> ForecastPaths:
    return _client.forecasts(pipeline, task=task)


@st.cache_data(show_spinner=False, max_entries=64)
def exceedance(
    _client: ApiClient, url: str, pipeline: str, task: str, champion_version: str | None, data: str
) -> ExceedanceRisk:
    return _client.exceedance(pipeline, task=task)


@st.cache_data(show_spinner=False, max_entries=256)
def history(
    _client: ApiClient, url: str, pipeline: str, station: str, start: str | None, end: str | None, data: str
) -> StationHistory:
    return _client.history(pipeline, station, start, end)


@st.cache_data(show_spinner=False, max_entries=32)
def versions(
    _client: ApiClient, url: str, pipeline: str, task: str, champion_version: str | None, latest: str | None
) -> ModelVersions:
    return _client.versions(pipeline, task)


@st.cache_data(show_spinner=False, max_entries=512)
def chart(key: tuple, _build: Callable[[], alt.TopLevelMixin]) -> dict:
    """A chart's Vega-Lite spec, built (and checked by Altair) once per `key`, which names the pipeline,
    the selection and the versions of the data it draws."""
    return _build().to_dict(validate=False)


def data_key(summary: PipelineSummary) -> str:
    """One string naming the versions of every asset the API serves for a pipeline."""
    return ",".join(f"{k}={v}" for k, v in sorted(summary.data_versions.items()))
