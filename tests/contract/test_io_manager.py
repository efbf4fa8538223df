"""The private Dagster API behind dagster_internals/io_manager.py (the lake's IO manager)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
from dagster._core.execution.context.system import StepExecutionContext
from upath import UPath

from dagster_internals.io_manager import FolderUPathIOManager, add_partition_metadata
from tests.contract.dagster_api import attribute, calls, changed, parameters

PATH = "dagster_internals/io_manager.py's FolderUPathIOManager (where the lake keeps unpartitioned outputs)"
METADATA = "dagster_internals/io_manager.py's add_partition_metadata (per-day metadata of a range write)"


def test_upath_io_manager_asks_get_path_for_unpartitioned_inputs_and_outputs():
    parameters(dg.UPathIOManager._get_path, ["context"], PATH)
    calls(dg.UPathIOManager.handle_output, "self._get_path(context)", PATH)
    calls(dg.UPathIOManager.load_input, "self._get_path(context)", PATH)


def test_an_output_context_reaches_the_step_that_records_per_partition_metadata():
    attribute(dg.OutputContext, "step_context", METADATA)
    parameters(StepExecutionContext.add_asset_metadata, ["metadata", "asset_key", "partition_key"], METADATA)


class _Folders(FolderUPathIOManager):
    """A miniature of the lake's IO manager: a folder per unpartitioned output, per-day metadata for a
    range written in one step."""

    extension = ""

    def __init__(self, root: UPath) -> None:
        super().__init__(base_path=root)
        self.root = root

    def unpartitioned_path(self, context):
        return self.root / "folders" / context.asset_key.path[-1]

    def handle_output(self, context, obj):
        if context.has_asset_partitions:
            for day in context.asset_partition_keys:
                add_partition_metadata(context, day, {"day": day})
            return
        super().handle_output(context, obj)

    def dump_to_path(self, context, obj, path):
        path.mkdir(parents=True, exist_ok=True)
        (path / "value.json").write_text(obj.to_json())

    def load_from_path(self, context, path):
        return pd.read_json(path / "value.json")


def test_both_hooks_work_end_to_end_in_a_run(tmp_path):
    days = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(io_manager_key="folders")
    def plain() -> pd.DataFrame:
        return pd.DataFrame({"x": [1]})

    @dg.asset(io_manager_key="folders", partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def daily() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2]})

    @dg.asset(io_manager_key="folders")
    def downstream(plain: pd.DataFrame) -> pd.DataFrame:
        return plain

    with dg.instance_for_test() as instance:
        resources = {"folders": _Folders(UPath(tmp_path))}
        assert dg.materialize([plain, downstream], resources=resources, instance=instance).success
        if not (tmp_path / "folders" / "plain" / "value.json").exists():
            changed("UPathIOManager: the unpartitioned output did not go to `_get_path`'s path", PATH)
        result = dg.materialize(
            [daily],
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2024-01-01",
                "dagster/asset_partition_range_end": "2024-01-03",
            },
        )
        assert result.success
        recorded = {
            m.partition: m.metadata.get("day") for m in result.asset_materializations_for_node("daily")
        }
        if recorded != {d: dg.TextMetadataValue(d) for d in ("2024-01-01", "2024-01-02", "2024-01-03")}:
            changed(f"per-partition asset metadata: a range's materializations carry {recorded}", METADATA)
