"""The lake's IO manager: every asset output stored in the lake (resources/lake_store.py), DataFrames as
Parquet and dicts as JSON, content-hashed; a partition range is written and read as its days."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from dagster_internals.io_manager import FolderUPathIOManager, add_partition_metadata
from resources.failures import as_dagster_failure
from resources.lake_store import UNPARTITIONED, Lake
from resources.object_store import ObjectStore


class _LakeIOManager(FolderUPathIOManager):
    extension = ""  # each output is a folder of versions, not one file

    def __init__(self, lake: Lake, store: ObjectStore) -> None:
        super().__init__(base_path=lake.root)
        self.lake = lake
        self.store = store

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        written, version = self.lake.write(list(context.asset_key.path), partition, obj)
        metadata: dict[str, Any] = {"lake_uri": dg.MetadataValue.path(str(written)), "content_hash": version}
        if isinstance(obj, pd.DataFrame):
            metadata["dagster/row_count"] = len(obj)
        context.add_output_metadata(metadata)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        with as_dagster_failure(), self.store.reporting_unavailable():
            self._handle_output(context, obj)

    def load_input(self, context: dg.InputContext) -> Any:
        with as_dagster_failure(), self.store.reporting_unavailable():
            return super().load_input(context)

    def _handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """A run over a partition range (single-run backfill) writes each day's rows as its own partition."""
        if not (context.has_asset_partitions and len(context.asset_partition_keys) > 1):
            return super().handle_output(context, obj)
        column = (context.definition_metadata or {}).get("partition_expr")
        if not isinstance(obj, pd.DataFrame) or not column:
            raise TypeError(
                f"{context.asset_key.to_user_string()}: a partition range needs a DataFrame and partition_expr"
            )
        days = pd.to_datetime(obj[column], utc=True).dt.floor("D")
        rows = {
            pd.Timestamp(day).strftime("%Y-%m-%d"): positions
            for day, positions in obj.groupby(days, sort=False).indices.items()
        }
        partitions = list(context.asset_partition_keys)
        encoded = self.lake.encode_partitions(list(context.asset_key.path), obj, rows, partitions)
        with ThreadPoolExecutor(max_workers=8) as pool:
            written = list(pool.map(Lake.store, encoded))
        # Each day's materialization gets that day's rows, object and hash, as a one-day run records them.
        # Output metadata would stamp the range's figures on every day (and cost a copy per day).
        for partition, (path, version) in zip(partitions, written, strict=True):
            add_partition_metadata(
                context,
                partition,
                {
                    "lake_uri": dg.MetadataValue.path(str(path)),
                    "content_hash": version,
                    "dagster/row_count": len(rows.get(partition, ())),
                },
            )

    def load_partitions(self, context: dg.InputContext) -> Any:
        """Many partitions at once: only those stored (daily assets have gaps), fetched concurrently;
        concatenated into one DataFrame unless the input asks for a dict."""
        key = list(context.asset_key.path)
        folder = self.lake.root.joinpath(*key)
        stored = {p.name for p in folder.iterdir()} if folder.exists() else set()
        wanted = [k for k in context.asset_partition_keys if k in stored]
        with ThreadPoolExecutor(max_workers=8) as pool:
            fetched = dict(zip(wanted, pool.map(lambda k: self.lake.fetch(key, k), wanted), strict=True))
        context.log.debug(
            f"loaded {len(fetched)} of {len(context.asset_partition_keys)} partitions of {'/'.join(key)}"
        )
        if context.dagster_type.typing_type in (dict, dict[str, pd.DataFrame]):
            return {k: Lake.decode(path, payload) for k, (path, payload) in fetched.items()}
        # One conversion to pandas for the whole range rather than a DataFrame per day concatenated.
        # "permissive" widens types and fills absent columns as pd.concat would. A day is small: reading it
        # without pyarrow's thread pool and dataset layer avoids their set-up cost on every day.
        tables = [
            pq.ParquetFile(pa.BufferReader(payload)).read(use_threads=False)
            for _, payload in fetched.values()
        ]
        non_empty = [table for table in tables if table.num_rows]
        if not non_empty:
            return pd.DataFrame()
        return pa.concat_tables(non_empty, promote_options="permissive").to_pandas()

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        key = list(context.asset_key.path)
        partition = path.name if context.has_asset_partitions else None
        return self.lake.read(key, partition)

    def get_asset_relative_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        return UPath(*context.asset_key.path)

    def unpartitioned_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        return self.lake.root.joinpath(*context.asset_key.path, UNPARTITIONED)

    def has_output(self, context: dg.OutputContext) -> bool:
        return True


class LakeIOManager(dg.ConfigurableIOManagerFactory):
    """Stores every asset output in the lake: DataFrames as Parquet, dicts as JSON, content-hashed."""

    store: dg.ResourceDependency[ObjectStore]

    def create_io_manager(self, context: dg.InitResourceContext) -> _LakeIOManager:
        return _LakeIOManager(Lake(self.store.root()), self.store)
