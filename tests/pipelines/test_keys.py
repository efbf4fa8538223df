"""The names a pipeline shows its users (Dagster UI, MLflow, run config, run tags). Everything else asks
`PipelineKeys` and `events.tags`; this test is where a rename is noticed, on purpose."""

from pipelines.keys import PipelineKeys, pipeline_of_job
from pipelines.spec import load_specs

SPECS = load_specs()


def test_every_name_of_a_pipeline_as_users_see_it():
    keys = PipelineKeys(SPECS["air_quality"])
    forecast, exceedance = SPECS["air_quality"].task("forecast"), SPECS["air_quality"].task("exceedance")
    assert [keys.raw, keys.clean, keys.features, keys.training_set] == [
        ("air_quality", "raw"),
        ("air_quality", "clean"),
        ("air_quality", "features"),
        ("air_quality", "training_set"),
    ]
    assert [
        keys.model(forecast),
        keys.evaluation(forecast),
        keys.champion(forecast),
        keys.output(forecast),
    ] == [
        ("air_quality", "forecast_model"),
        ("air_quality", "forecast_evaluation"),
        ("air_quality", "forecast_champion"),
        ("air_quality", "forecasts"),
    ]
    assert keys.output(exceedance) == ("air_quality", "exceedance_risk")
    assert keys.jobs == (
        "air_quality_ingest",
        "air_quality_train",
        "air_quality_refresh",
        "air_quality_forecast",
    )
    assert (keys.ingest_schedule, keys.forecast_schedule) == (
        "air_quality_ingest_schedule",
        "air_quality_hourly_forecasts",
    )
    assert keys.model_name(forecast) == "air_quality.forecast"
    assert keys.raw_config(["x.csv"]) == {"ops": {"air_quality__raw": {"config": {"files": ["x.csv"]}}}}
    assert keys.model_config(exceedance, "ridge", {"alpha": 2.0}) == {
        "ops": {"air_quality__exceedance_model": {"config": {"algorithm": "ridge", "params": {"alpha": 2.0}}}}
    }


def test_a_job_belongs_to_its_own_pipeline_even_when_names_share_a_prefix():
    assert pipeline_of_job("air_quality_landing_train", SPECS) == "air_quality_landing"
    assert pipeline_of_job("air_quality_train", SPECS) == "air_quality"
    assert pipeline_of_job("some_other_job", SPECS) is None
