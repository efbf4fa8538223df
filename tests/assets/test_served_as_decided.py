"""The forecasts asset's check: each target's published rows come from the source its gates decided."""

import dagster as dg
import pandas as pd

from assets.models import served_as_decided
from pipelines.spec import load_specs

TASK = load_specs()["air_quality_landing"].task("forecast")
KEY = dg.AssetKey(["air_quality_landing", "forecasts"])


def _published(no2: str, co: str) -> pd.DataFrame:
    return pd.DataFrame({"pollutant": ["no2", "no2", "co", "co"], "source": [no2, no2, co, co]})


def test_forecasts_from_the_decided_sources_pass():
    check = served_as_decided(KEY, _published("model", "baseline"), {"no2": "model", "co": "baseline"}, TASK)
    assert check.passed
    assert check.description == "no2: served by the model; co: served by the baseline"


def test_a_target_published_from_the_other_source_fails_and_is_named():
    check = served_as_decided(KEY, _published("model", "model"), {"no2": "model", "co": "baseline"}, TASK)
    assert not check.passed
    assert check.description == "co: published model, decided baseline"


def test_versions_from_before_per_target_decisions_serve_the_model():
    assert served_as_decided(KEY, _published("model", "model"), {}, TASK).passed
