"""The tables a task serves, built from the latest features and a model's predictions."""

import numpy as np
import pandas as pd

from pipelines.cleaning import clean_readings
from pipelines.features import build_features, forecast_inputs, latest_observed
from pipelines.outputs import exceedance_table, forecast_table, output_table
from pipelines.simulator import simulate_readings, station_ids
from pipelines.spec import load_specs

SPEC = load_specs()["air_quality"]
FORECAST, EXCEEDANCE = SPEC.task("forecast"), SPEC.task("exceedance")


def _features() -> pd.DataFrame:
    start = pd.Timestamp("2024-03-01", tz="UTC")
    raw = simulate_readings(station_ids(3), start, start + pd.Timedelta(days=4), seed=5)
    return build_features(clean_readings(raw, SPEC, start, start + pd.Timedelta(days=4)), SPEC)


def _predicted(inputs: pd.DataFrame) -> pd.DataFrame:
    """Predictions that say which row and target they belong to: horizon × 10 (+1 for co), ±1."""
    out = {}
    for offset, target in enumerate(FORECAST.targets):
        point = inputs["horizon"].to_numpy() * 10.0 + offset
        out |= {target: point, f"{target}_lower": point - 1, f"{target}_upper": point + 1}
    return pd.DataFrame(out)


def test_forecast_table_has_every_station_hour_and_pollutant_with_its_interval():
    inputs = forecast_inputs(_features(), SPEC, FORECAST)
    table = forecast_table(inputs, _predicted(inputs), SPEC, FORECAST, lambda target: "model")

    assert len(table) == 3 * len(FORECAST.horizons) * len(FORECAST.targets)
    assert set(table["pollutant"]) == set(FORECAST.targets)
    co = table[table["pollutant"] == "co"]
    np.testing.assert_array_equal(co["prediction"], co["horizon"] * 10.0 + 1)
    assert (table["lower"] < table["prediction"]).all() and (table["prediction"] < table["upper"]).all()
    lead = (pd.to_datetime(table["target_time"]) - pd.to_datetime(table["issued_at"])) / pd.Timedelta(hours=1)
    np.testing.assert_array_equal(lead, table["horizon"])
    assert (table["interval_level"] == FORECAST.interval_level).all()


def test_exceedance_table_gives_each_station_its_probability_and_window():
    latest = latest_observed(_features(), SPEC, [EXCEEDANCE.target])
    table = exceedance_table(latest, np.array([0.1, 0.5, 0.9]), SPEC, EXCEEDANCE)

    assert list(table["station"]) == list(latest["station"])
    assert list(table["probability"]) == [0.1, 0.5, 0.9]
    window = pd.to_datetime(table["window_end"]) - pd.to_datetime(table["issued_at"])
    assert (window == pd.Timedelta(hours=EXCEEDANCE.within_hours)).all()
    assert (table["threshold"] == EXCEEDANCE.threshold).all()


def test_output_table_holds_the_models_forecasts_stamped_with_its_version(ridge_forecast):
    features, model = _features(), ridge_forecast.model

    table = output_table(features, model, SPEC, FORECAST, "air_quality.forecast", "7")

    expected = model.predict_frame(forecast_inputs(features, SPEC, FORECAST))
    no2 = table[table["pollutant"] == "no2"]
    np.testing.assert_allclose(no2["prediction"], expected["no2"])
    np.testing.assert_allclose(no2["upper"], expected["no2_upper"])
    assert set(table["model"]) == {"air_quality.forecast"} and set(table["model_version"]) == {"7"}
