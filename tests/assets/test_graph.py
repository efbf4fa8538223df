"""The whole asset graph on small simulated data, in process, on the embedded local profile.

Checks what a user would notice: the registry alias, the tags on the model version, the forecasts in the
lake, the events announced, a bad partition stopping everything downstream, and a rollback.
"""

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from cli.main import main as mlops
from definitions import build_definitions
from events.tags import (
    CODE_VERSION_TAG,
    DATA_VERSION_PREFIX,
    GATE_PREFIX,
    PROMOTED_AT_TAG,
    partition_range_tags,
)
from pipelines.keys import PipelineKeys
from pipelines.parsing import format_source_file
from pipelines.simulator import SENTINEL, simulate_readings
from pipelines.spec import load_specs
from resources.clients import clients_from_settings
from resources.lake_store import Lake
from resources.settings import get_settings

pytestmark = pytest.mark.slow
SITES = ["site_1", "site_2", "site_3"]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
SPECS = load_specs()
AIR, LANDING = PipelineKeys(SPECS["air_quality"]), PipelineKeys(SPECS["air_quality_landing"])
FORECAST, EXCEEDANCE = (AIR.model_name(SPECS["air_quality"].task(t)) for t in ("forecast", "exceedance"))
LANDING_FORECAST = LANDING.model_name(SPECS["air_quality_landing"].task("forecast"))


def lake() -> Lake:
    return Lake(clients_from_settings(get_settings()).lake.root())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local-profile data directory shared by the tests of this module (runs are the slow part)."""
    root = tmp_path_factory.mktemp("graph") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLOPS_PROFILE", "local")
        mp.setenv("MLOPS_DATA_DIR", str(root))
        mp.delenv("DAGSTER_HOME", raising=False)
        get_settings.cache_clear()
        yield root
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def materialized(data_root: Path) -> Path:
    """`mlops materialize` as a script would run it (output not a terminal); what it printed (stdout and
    stderr) kept beside the data."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        code = mlops(
            ["materialize", "--pipeline", "air_quality", "--start", "2024-01-01", "--end", "2024-02-29"]
        )
    (data_root / "materialize.out").write_text(output.getvalue())
    assert code == 0, output.getvalue()
    return data_root


def test_materialize_records_its_run_in_the_data_dirs_instance_and_says_what_it_did(materialized):
    output = (materialized / "materialize.out").read_text()
    with dg.DagsterInstance.from_config(str(materialized / "dagster")) as instance:
        runs = instance.get_runs()
    assert [r.job_name for r in runs] == ["air_quality_refresh"]
    assert "  ✓ raw " in output and "  ✓ forecasts " in output  # one line per finished step
    assert "air_quality  ✓ done" in output
    assert "champions  air_quality.forecast → version 1 (promoted by this run)" in output
    assert "forecast_evaluation: ✓ beats_baseline  ✓ beats_champion  ✓ calibrated" in output
    assert "forecasts: ✓ served_as_decided" in output
    assert f"/runs/{runs[0].run_id}" in output
    assert "Successfully registered model" not in output and "Warning" not in output


@pytest.fixture(scope="module")
def registry(data_root: Path):
    return clients_from_settings(get_settings()).registry


def test_materialize_promotes_a_champion_with_lineage_in_mlflow(materialized, registry):
    client = registry.client()
    for model_name in (FORECAST, EXCEEDANCE):
        champion = registry.champion(model_name)
        assert champion is not None and str(champion.version) == "1"
        assert champion.tags["pipeline"] == "air_quality"
        assert len(champion.tags[f"{DATA_VERSION_PREFIX}training_set"]) == 16
        assert champion.tags[f"{GATE_PREFIX}beats_baseline"] == "passed"
        assert champion.tags[PROMOTED_AT_TAG]
        run = client.get_run(champion.run_id)
        assert run.data.tags["dagster.run_id"] == champion.tags["dagster.run_id"]
        assert run.data.tags[CODE_VERSION_TAG]
        assert run.data.tags["data_uri.training_set"].endswith(".parquet")
        assert "algorithm" in run.data.params
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "feature_importance.png" in artifacts
    forecast_champion = registry.champion(FORECAST)
    assert (forecast_champion.tags["source.no2"], forecast_champion.tags["source.co"]) == ("model", "model")
    forecast_run = client.get_run(forecast_champion.run_id)
    assert forecast_run.data.metrics["holdout.no2.interval_width"] > 0
    assert 0.8 < forecast_run.data.metrics["holdout.no2.coverage"] < 1.0
    assert (
        forecast_run.data.metrics["holdout.no2.mae"] < forecast_run.data.metrics["holdout.no2.baseline_mae"]
    )
    assert "holdout_residuals.png" in {a.path for a in client.list_artifacts(forecast_run.info.run_id)}


def test_forecasts_cover_every_station_and_horizon_with_intervals(materialized):
    forecast_task = SPECS["air_quality"].task("forecast")
    forecasts = lake().read(AIR.output(forecast_task))
    assert len(forecasts) == 5 * 24 * 2  # stations × horizons × pollutants
    assert set(forecasts["pollutant"]) == {"no2", "co"}
    assert (forecasts["lower"] <= forecasts["prediction"]).all() and (
        forecasts["prediction"] <= forecasts["upper"]
    ).all()
    assert forecasts["issued_at"].max() == pd.Timestamp("2024-02-29 23:00", tz="UTC")
    assert (forecasts["model_version"] == "1").all()
    assert (forecasts["source"] == "model").all()  # air_quality is gated as a whole: the model serves
    risk = lake().read(AIR.output(SPECS["air_quality"].task("exceedance")))
    assert len(risk) == 5 and risk["probability"].between(0, 1).all()
    raw_days = {p.name for p in lake().root.joinpath(*AIR.raw).iterdir()}
    assert len(raw_days) == 60


def test_promotion_and_outputs_are_announced_as_events(materialized):
    events = [json.loads(line) for line in (materialized / "events.jsonl").read_text().splitlines()]
    promoted = [e for e in events if e["type"] == "model.promoted"]
    assert {e["payload"]["model"] for e in promoted} == {FORECAST, EXCEEDANCE}
    assert all(e["schema_version"] == 1 and e["trace_id"] and e["id"] for e in events)
    assert all(e["source"] == "mlops-platform/dagster" for e in events)
    forecasts = "/".join(AIR.output(SPECS["air_quality"].task("forecast")))
    assert any(e["type"] == "dataset.materialized" and e["payload"]["asset"] == forecasts for e in events)


def test_retraining_then_rollback_moves_the_alias_back_and_announces_it(materialized, registry, capsys):
    defs = build_definitions()

    result = defs.resolve_job_def(AIR.train_job).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config=QUIET, raise_on_error=False
    )
    assert result.success
    assert str(registry.champion(FORECAST).version) == "2"  # same data, same skill: ≥ champion
    assert mlops(["rollback", "air_quality", "--task", "forecast"]) == 0
    assert f"{FORECAST}: champion moved from version 2 to 1" in capsys.readouterr().out
    champion = registry.champion(FORECAST)
    assert str(champion.version) == "1"
    assert champion.tags["rolled_back_from"] == "2" and champion.tags["rolled_back_at"]
    assert str(registry.champion(EXCEEDANCE).version) == "2"  # untouched

    events = [json.loads(line) for line in (materialized / "events.jsonl").read_text().splitlines()]
    last = events[-1]
    assert (last["type"], last["source"]) == ("model.promoted", "mlops-cli")
    assert last["payload"]["model"] == FORECAST and last["payload"]["version"] == "1"
    assert last["payload"]["metrics"]["no2.mae"] > 0  # the version's own holdout metrics

    assert mlops(["rollback", "air_quality", "--task", "forecast", "--to-version", "1"]) == 1
    assert "already the champion" in capsys.readouterr().err
    assert mlops(["rollback", "air_quality", "--task", "forecast", "--to-version", "9"]) == 1
    assert "has no version 9" in capsys.readouterr().err


def _land(data_root: Path, name: str, readings: pd.DataFrame) -> None:
    spec = SPECS["air_quality_landing"]
    folder = data_root / "landing" / "air_quality_landing"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(format_source_file(readings, spec))


def test_corrupted_partition_fails_its_check_and_nothing_downstream_moves(data_root, registry):
    defs = build_definitions()

    instance = dg.DagsterInstance.ephemeral()
    good = simulate_readings(SITES, "2024-01-01", "2024-03-01", seed=11)
    _land(data_root, "good.csv", good)
    refresh = defs.resolve_job_def(LANDING.refresh_job)
    result = refresh.execute_in_process(
        instance=instance, run_config=QUIET, tags=partition_range_tags("2024-01-01", "2024-02-29")
    )
    assert result.success
    assert str(registry.champion(LANDING_FORECAST).version) == "1"
    # Gated per target: each target's forecasts come from the source its version records.
    champion = registry.champion(LANDING_FORECAST)
    published = lake().read(LANDING.output(SPECS["air_quality_landing"].task("forecast")))
    sources = published.groupby("pollutant")["source"].unique()
    assert {t: list(v) for t, v in sources.items()} == {
        t: [champion.tags[f"source.{t}"]] for t in ("no2", "co")
    }
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["served_as_decided"]

    # A day where every NO2 reading is the sentinel, and a day whose file lost its CO column.
    bad = simulate_readings(SITES, "2024-03-01", "2024-03-02", seed=11).assign(no2=SENTINEL)
    _land(data_root, "all_sentinel.csv", bad)
    no_co = simulate_readings(SITES, "2024-03-02", "2024-03-03", seed=11)
    spec = SPECS["air_quality_landing"]
    text = format_source_file(no_co, spec).decode().replace("CO(GT)", "CO_sensor_b")
    (data_root / "landing" / "air_quality_landing" / "renamed_column.csv").write_text(text)

    expected = {
        "2024-03-01": ("value_ranges", "'no2': 100% of 72 readings unusable (72 sentinel (-200))"),
        "2024-03-02": ("schema", "column 'co' (source 'CO(GT)') is missing"),
    }
    for day, (check, message) in expected.items():
        result = refresh.execute_in_process(
            instance=instance, run_config=QUIET, partition_key=day, raise_on_error=False
        )
        failed = {
            e.asset_check_key.name: e.description
            for e in result.get_asset_check_evaluations()
            if not e.passed
        }
        assert check in failed and message in failed[check], failed
        materialized = {
            e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key
        }
        assert materialized == {"/".join(LANDING.raw)}, materialized  # raw keeps what came; nothing after it

    assert str(registry.champion(LANDING_FORECAST).version) == "1"
    versions = registry.client().search_model_versions(f"name='{LANDING_FORECAST}'")
    assert [str(v.version) for v in versions] == ["1"]


def test_past_versions_stay_readable_after_a_correction(data_root):
    defs = build_definitions()

    store = lake()
    key, day = LANDING.raw, "2024-03-01"
    before = store.read(key, day)
    corrected = simulate_readings(SITES, "2024-03-01", "2024-03-02", seed=11)
    _land(data_root, "all_sentinel.csv", corrected)  # the provider re-delivers the day, fixed
    result = defs.resolve_job_def(LANDING.ingest_job).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config=QUIET, partition_key=day
    )
    assert result.success
    versions = store.versions(key, day)
    assert len(versions) == 2
    after = store.read(key, day)
    assert (after["no2"] != SENTINEL).any()
    old = next(v for v in versions if store.read(key, day, v)["no2"].eq(SENTINEL).all())
    pd.testing.assert_frame_equal(store.read(key, day, old), before)
