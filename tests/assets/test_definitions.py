"""The code location loads quietly, and every pipeline spec becomes the same asset graph."""

import os
import subprocess
import sys
from datetime import timedelta

import dagster as dg

from definitions import build_definitions
from pipelines.keys import PipelineKeys
from pipelines.spec import is_tabular, load_specs

SPECS = {name: spec for name, spec in load_specs().items() if not is_tabular(spec)}  # time series
TABLES = {name: spec for name, spec in load_specs().items() if is_tabular(spec)}
defs = build_definitions()


def _stages(keys: PipelineKeys) -> list[tuple[str, ...]]:
    tasks = keys.spec.tasks
    chains = [(keys.model(t), keys.evaluation(t), keys.champion(t), keys.output(t)) for t in tasks]
    return [keys.raw, keys.clean, keys.features, keys.training_set, *(k for chain in chains for k in chain)]


def test_every_spec_gets_the_full_graph_with_groups_and_owners():
    graph = defs.resolve_asset_graph()
    for spec in SPECS.values():
        keys = PipelineKeys(spec)
        assert {dg.AssetKey(path) for path in _stages(keys)} <= set(graph.get_all_asset_keys())
        node = graph.get(dg.AssetKey(keys.outputs[0]))
        assert node.group_name == spec.name
        assert node.owners
        assert graph.get(dg.AssetKey(keys.raw)).partitions_def is not None


def test_every_tabular_spec_gets_its_graph_with_blocking_gates_and_a_warning_slice_check():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key, k.name): graph.get_check_spec(k).blocking for k in graph.asset_check_keys}
    assert TABLES
    for spec in TABLES.values():
        keys = PipelineKeys(spec)
        task = spec.tasks[0]
        chain = [
            keys.raw,
            keys.clean,
            keys.training_set,
            keys.model(task),
            keys.evaluation(task),
            keys.champion(task),
        ]
        for parent, child in zip(chain, chain[1:], strict=False):
            assert dg.AssetKey(child) in graph.get(dg.AssetKey(parent)).child_keys
        evaluation = dg.AssetKey(keys.evaluation(task))
        for gate in ("beats_baseline", "beats_champion", "calibrated"):
            assert checks[(evaluation, gate)] is True
        assert checks[(evaluation, "slices")] is False
        assert defs.resolve_job_def(keys.refresh_job) and defs.resolve_job_def(keys.train_job)


def test_one_feature_asset_feeds_both_models():
    spec = SPECS["air_quality"]
    keys = PipelineKeys(spec)
    children = defs.resolve_asset_graph().get(dg.AssetKey(keys.training_set)).child_keys
    assert children == {dg.AssetKey(p) for t in spec.tasks for p in (keys.model(t), keys.evaluation(t))}


def test_promotion_gates_are_blocking_checks():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key, k.name): graph.get_check_spec(k).blocking for k in graph.asset_check_keys}
    keys = PipelineKeys(SPECS["air_quality"])
    for gate in ("beats_baseline", "beats_champion", "calibrated"):
        assert checks[(dg.AssetKey(keys.evaluation(SPECS["air_quality"].task("forecast"))), gate)] is True
    for check in ("schema", "value_ranges", "row_count"):
        assert checks[(dg.AssetKey(keys.raw), check)] is True


def test_raw_and_outputs_carry_freshness_policies_shown_in_the_ui():
    graph = defs.resolve_asset_graph()
    for spec in SPECS.values():
        keys = PipelineKeys(spec)
        raw = graph.get(dg.AssetKey(keys.raw)).freshness_policy
        assert isinstance(raw, dg.FreshnessPolicy) and raw.deadline_cron == "0 3 * * *"
        for output in keys.outputs:
            policy = graph.get(dg.AssetKey(output)).freshness_policy
            assert policy.fail_window.to_timedelta() == timedelta(hours=spec.checks.freshness_hours)
    assert not any(k.name.startswith("freshness") for k in graph.asset_check_keys)  # policies, not checks


def test_jobs_and_schedules_exist_per_pipeline():
    for spec in SPECS.values():
        keys = PipelineKeys(spec)
        for job in keys.jobs:
            assert defs.resolve_job_def(job)
        assert defs.resolve_schedule_def(keys.forecast_schedule)
    assert defs.resolve_schedule_def(PipelineKeys(SPECS["air_quality"]).ingest_schedule)


def test_loading_the_definitions_warns_of_nothing(tmp_path):
    """No deprecation or supersession warning (e.g. superseded freshness checks) reaches the user."""
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import definitions; definitions.defs()"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLOPS_DATA_DIR": str(tmp_path)},
        check=True,
    )
    assert "Warning" not in done.stderr, done.stderr
