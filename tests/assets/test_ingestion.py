"""A range run of raw and clean records each day as its own materialization: its rows, object, hash."""

import dagster as dg
import pytest

from definitions import build_definitions
from resources.definitions import build_resources
from resources.lake import Lake
from resources.settings import get_settings

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]


@pytest.fixture
def range_run(data_dir) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    result = (
        build_definitions()
        .resolve_job_def("air_quality_ingest")
        .execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={
                "dagster/asset_partition_range_start": DAYS[0],
                "dagster/asset_partition_range_end": DAYS[-1],
            },
        )
    )
    assert result.success
    return instance


def _materialization(instance: dg.DagsterInstance, asset: str, day: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["air_quality", asset]), asset_partitions=[day]),
        limit=1,
    ).records
    return records[0].asset_materialization.metadata


@pytest.mark.parametrize("asset", ["raw", "clean"])
def test_each_day_of_a_range_run_carries_its_own_rows_object_and_hash(range_run, asset):
    lake = Lake(build_resources(get_settings())["lake"].root())
    uris = set()
    for day in DAYS:
        meta = _materialization(range_run, asset, day)
        stored = lake.read(["air_quality", asset], day)
        assert meta["dagster/row_count"].value == len(stored)
        assert meta["lake_uri"].value == str(lake.path_of(["air_quality", asset], day))
        assert meta["content_hash"].value == lake.versions(["air_quality", asset], day)[0]
        assert "preview" not in meta  # a range's preview stamped on every day would show the wrong rows
        uris.add(meta["lake_uri"].value)
    assert len(uris) == len(DAYS)


def test_each_clean_day_reports_its_own_missing_shares(range_run):
    lake = Lake(build_resources(get_settings())["lake"].root())
    reported = {}
    for day in DAYS:
        meta = _materialization(range_run, "clean", day)
        stored = lake.read(["air_quality", "clean"], day)
        reported[day] = {c: meta[f"{c}.missing_share"].value for c in ("nox", "relative_humidity")}
        assert reported[day] == {c: pytest.approx(stored[c].isna().mean()) for c in reported[day]}
    assert len({tuple(shares.values()) for shares in reported.values()}) > 1  # the days differ here
