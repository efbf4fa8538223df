"""The code location loads, and every pipeline spec becomes the same asset graph."""

import dagster as dg

from definitions import defs

STAGES = [
    "raw",
    "clean",
    "features",
    "training_set",
    "forecast_model",
    "forecast_evaluation",
    "forecast_champion",
    "forecasts",
    "exceedance_model",
    "exceedance_evaluation",
    "exceedance_champion",
    "exceedance_risk",
]


def test_every_spec_gets_the_full_graph_with_groups_and_owners():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for pipeline in ("air_quality", "air_quality_landing"):
        assert {f"{pipeline}/{stage}" for stage in STAGES} <= keys
        node = graph.get(dg.AssetKey([pipeline, "forecasts"]))
        assert node.group_name == pipeline
        assert node.owners
        assert graph.get(dg.AssetKey([pipeline, "raw"])).partitions_def is not None


def test_one_feature_asset_feeds_both_models():
    graph = defs.resolve_asset_graph()
    children = graph.get(dg.AssetKey(["air_quality", "training_set"])).child_keys
    assert {k.path[-1] for k in children} == {
        "forecast_model",
        "exceedance_model",
        "forecast_evaluation",
        "exceedance_evaluation",
    }


def test_promotion_gates_are_blocking_checks():
    graph = defs.resolve_asset_graph()
    checks = {
        (k.asset_key.to_user_string(), k.name): graph.get_check_spec(k).blocking
        for k in graph.asset_check_keys
    }
    for gate in ("beats_baseline", "beats_champion", "calibrated"):
        assert checks[("air_quality/forecast_evaluation", gate)] is True
    for check in ("schema", "value_ranges", "row_count"):
        assert checks[("air_quality/raw", check)] is True


def test_jobs_and_schedules_exist_per_pipeline():
    for pipeline in ("air_quality", "air_quality_landing"):
        for job in ("ingest", "refresh", "train", "forecast"):
            assert defs.resolve_job_def(f"{pipeline}_{job}")
    assert defs.get_schedule_def("air_quality_ingest_schedule")
