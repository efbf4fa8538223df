"""A range run of raw and clean records each day as its own materialization: its rows, object, hash."""

import dagster as dg
import pytest

from definitions import build_definitions
from events.tags import partition_range_tags
from pipelines.keys import PipelineKeys
from pipelines.spec import load_specs
from resources.clients import clients_from_settings
from resources.lake_store import Lake
from resources.settings import get_settings

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
KEYS = PipelineKeys(load_specs()["air_quality"])


@pytest.fixture
def range_run(data_dir) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    result = (
        build_definitions()
        .resolve_job_def(KEYS.ingest_job)
        .execute_in_process(instance=instance, run_config=QUIET, tags=partition_range_tags(DAYS[0], DAYS[-1]))
    )
    assert result.success
    return instance


def _materialization(instance: dg.DagsterInstance, asset: tuple[str, ...], day: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]),
        limit=1,
    ).records
    return records[0].asset_materialization.metadata


def _lake() -> Lake:
    return Lake(clients_from_settings(get_settings()).lake.root())


@pytest.mark.parametrize("asset", [KEYS.raw, KEYS.clean])
def test_each_day_of_a_range_run_carries_its_own_rows_object_and_hash(range_run, asset):
    lake = _lake()
    uris = set()
    for day in DAYS:
        meta = _materialization(range_run, asset, day)
        stored = lake.read(asset, day)
        assert meta["dagster/row_count"].value == len(stored)
        assert meta["lake_uri"].value == str(lake.path_of(asset, day))
        assert meta["content_hash"].value == lake.versions(asset, day)[0]
        assert "preview" not in meta  # a range's preview stamped on every day would show the wrong rows
        uris.add(meta["lake_uri"].value)
    assert len(uris) == len(DAYS)


def test_each_clean_day_reports_its_own_missing_shares(range_run):
    lake = _lake()
    reported = {}
    for day in DAYS:
        meta = _materialization(range_run, KEYS.clean, day)
        stored = lake.read(KEYS.clean, day)
        reported[day] = {c: meta[f"{c}.missing_share"].value for c in ("nox", "relative_humidity")}
        assert reported[day] == {c: pytest.approx(stored[c].isna().mean()) for c in reported[day]}
    assert len({tuple(shares.values()) for shares in reported.values()}) > 1  # the days differ here
