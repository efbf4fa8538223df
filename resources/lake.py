"""The lake: content-hashed, immutable Parquet (and JSON) objects keyed by asset key and partition.

Layout: `<root>/<asset key>/<partition or _>/<content hash>.<ext>` plus a `_latest` pointer beside them.
A write never replaces an object, so every past version stays readable by its hash, and the hash is the
asset's data version: a model version records exactly which data it saw.
"""

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from resources.object_store import ObjectStore

LATEST = "_latest"
UNPARTITIONED = "_"


def content_hash(obj: Any) -> str:
    """A stable hash of a DataFrame's content (values, columns, dtypes) or of a JSON-able value."""
    digest = hashlib.sha256()
    if isinstance(obj, pd.DataFrame):
        digest.update(json.dumps([(str(c), str(t)) for c, t in obj.dtypes.items()]).encode())
        digest.update(pd.util.hash_pandas_object(obj, index=False).to_numpy().tobytes())
    else:
        digest.update(json.dumps(obj, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class Lake:
    """Reads and writes versioned objects under one root; used by the IO manager and by serving."""

    def __init__(self, root: UPath) -> None:
        self.root = root

    def folder(self, key: list[str] | tuple[str, ...], partition: str | None = None) -> UPath:
        return self.root.joinpath(*key, partition or UNPARTITIONED)

    def write(self, key: list[str] | tuple[str, ...], partition: str | None, obj: Any) -> tuple[UPath, str]:
        """Store `obj` under its content hash (skipped if already there) and point `_latest` at it."""
        folder = self.folder(key, partition)
        version = content_hash(obj)
        if isinstance(obj, pd.DataFrame):
            path, buffer = folder / f"{version}.parquet", io.BytesIO()
            obj.to_parquet(buffer, index=False)
            payload = buffer.getvalue()
        else:
            path, payload = folder / f"{version}.json", json.dumps(obj, sort_keys=True, default=str).encode()
        folder.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(payload)
        (folder / LATEST).write_text(path.name)
        return path, version

    def path_of(
        self, key: list[str] | tuple[str, ...], partition: str | None, version: str | None = None
    ) -> UPath:
        folder = self.folder(key, partition)
        if version is None:
            try:
                return folder / (folder / LATEST).read_text().strip()
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"nothing stored yet for {'/'.join(key)} partition {partition or '-'}"
                ) from None
        matches = [p for p in folder.iterdir() if p.stem == version]
        if not matches:
            raise FileNotFoundError(f"no version {version} of {'/'.join(key)} partition {partition or '-'}")
        return matches[0]

    def read(
        self, key: list[str] | tuple[str, ...], partition: str | None = None, version: str | None = None
    ) -> Any:
        """The latest object, or the one with content hash `version`."""
        path = self.path_of(key, partition, version)
        if path.suffix == ".parquet":
            return pd.read_parquet(io.BytesIO(path.read_bytes()))
        return json.loads(path.read_bytes())

    def versions(self, key: list[str] | tuple[str, ...], partition: str | None = None) -> list[str]:
        folder = self.folder(key, partition)
        return sorted(p.stem for p in folder.iterdir() if p.name != LATEST) if folder.exists() else []


class _LakeIOManager(dg.UPathIOManager):
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
        with self.store.reporting_unavailable():
            self._handle_output(context, obj)

    def load_input(self, context: dg.InputContext) -> Any:
        with self.store.reporting_unavailable():
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
        groups = (
            {day.strftime("%Y-%m-%d"): rows for day, rows in obj.groupby(days, sort=False)}
            if len(obj)
            else {}
        )
        key, empty = list(context.asset_key.path), obj.iloc[0:0]

        def write(partition: str) -> str:
            return self.lake.write(key, partition, groups.get(partition, empty).reset_index(drop=True))[1]

        with ThreadPoolExecutor(max_workers=8) as pool:
            hashes = dict(
                zip(context.asset_partition_keys, pool.map(write, context.asset_partition_keys), strict=True)
            )
        context.add_output_metadata({"partitions_written": len(hashes), "dagster/row_count": len(obj)})

    def load_partitions(self, context: dg.InputContext) -> Any:
        """Many partitions at once: only those stored (daily assets have gaps), read concurrently;
        concatenated into one DataFrame unless the input asks for a dict."""
        key = list(context.asset_key.path)
        folder = self.lake.root.joinpath(*key)
        stored = {p.name for p in folder.iterdir()} if folder.exists() else set()
        wanted = [k for k in context.asset_partition_keys if k in stored]
        with ThreadPoolExecutor(max_workers=8) as pool:
            frames = dict(zip(wanted, pool.map(lambda k: self.lake.read(key, k), wanted), strict=True))
        context.log.debug(
            f"loaded {len(frames)} of {len(context.asset_partition_keys)} partitions of {'/'.join(key)}"
        )
        if context.dagster_type.typing_type in (dict, dict[str, pd.DataFrame]):
            return frames
        non_empty = [f for f in frames.values() if len(f)]
        return pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame()

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        key = list(context.asset_key.path)
        partition = path.name if context.has_asset_partitions else None
        return self.lake.read(key, partition)

    def get_asset_relative_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        return UPath(*context.asset_key.path)

    def _get_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        return self._base_path.joinpath(*context.asset_key.path, UNPARTITIONED)

    def has_output(self, context: dg.OutputContext) -> bool:
        return True


class LakeIOManager(dg.ConfigurableIOManagerFactory):
    """Stores every asset output in the lake: DataFrames as Parquet, dicts as JSON, content-hashed."""

    store: dg.ResourceDependency[ObjectStore]

    def create_io_manager(self, context: dg.InitResourceContext) -> _LakeIOManager:
        return _LakeIOManager(Lake(self.store.root()), self.store)
