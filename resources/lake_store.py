"""The lake: content-hashed, immutable Parquet (and JSON) objects keyed by asset key and partition.

Layout: `<root>/<asset key>/<partition or _>/<content hash>.<ext>` plus a `_latest` pointer beside them.
A write never replaces an object, so every past version stays readable by its hash, and the hash is the
asset's data version: a model version records exactly which data it saw.
"""

import hashlib
import io
import json
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

LATEST = "_latest"
UNPARTITIONED = "_"


def content_hash(obj: Any) -> str:
    """A stable hash of a DataFrame's content (values, columns, dtypes) or of a JSON-able value."""
    if isinstance(obj, pd.DataFrame):
        return _frame_hash(obj, pd.util.hash_pandas_object(obj, index=False).to_numpy())
    digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _frame_hash(frame: pd.DataFrame, row_hashes: np.ndarray) -> str:
    """`content_hash` of `frame` from its rows' hashes: a row's hash depends on that row's values only,
    so the hashes of a large frame, sliced, give each part's content hash."""
    digest = hashlib.sha256(json.dumps([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(np.ascontiguousarray(row_hashes).tobytes())
    return digest.hexdigest()[:16]


class EncodedObject(NamedTuple):
    path: UPath
    version: str
    payload: bytes


class Lake:
    """Reads and writes versioned objects under one root; used by the IO manager and by serving."""

    def __init__(self, root: UPath) -> None:
        self.root = root

    def folder(self, key: list[str] | tuple[str, ...], partition: str | None = None) -> UPath:
        return self.root.joinpath(*key, partition or UNPARTITIONED)

    def write(self, key: list[str] | tuple[str, ...], partition: str | None, obj: Any) -> tuple[UPath, str]:
        """Store `obj` under its content hash (skipped if already there) and point `_latest` at it."""
        return self.store(self.encode(key, partition, obj))

    def encode(self, key: list[str] | tuple[str, ...], partition: str | None, obj: Any) -> EncodedObject:
        """The CPU half of a write: hash and serialize (Parquet for a DataFrame, else JSON)."""
        folder = self.folder(key, partition)
        version = content_hash(obj)
        if isinstance(obj, pd.DataFrame):
            buffer = io.BytesIO()
            obj.to_parquet(buffer, index=False)
            return EncodedObject(folder / f"{version}.parquet", version, buffer.getvalue())
        payload = json.dumps(obj, sort_keys=True, default=str).encode()
        return EncodedObject(folder / f"{version}.json", version, payload)

    def encode_partitions(
        self,
        key: list[str] | tuple[str, ...],
        frame: pd.DataFrame,
        rows: dict[str, np.ndarray],
        partitions: list[str],
    ) -> list[EncodedObject]:
        """`encode` of each partition's rows of `frame` (`rows`: partition → row positions; a partition
        without rows gets an empty frame), the same objects and hashes as encoding each part on its own,
        but the whole frame is hashed and converted to Arrow once rather than once per partition."""
        none = np.array([], dtype=np.intp)
        parts = [rows.get(p, none) for p in partitions]
        order = np.concatenate(parts) if parts else none
        row_hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        table = pa.Table.from_pandas(frame, preserve_index=False).take(order)
        encoded, start = [], 0
        for partition, part in zip(partitions, parts, strict=True):
            buffer = io.BytesIO()
            pq.write_table(table.slice(start, len(part)), buffer)
            start += len(part)
            version = _frame_hash(frame, row_hashes[part])
            folder = self.folder(key, partition)
            encoded.append(EncodedObject(folder / f"{version}.parquet", version, buffer.getvalue()))
        return encoded

    @staticmethod
    def store(encoded: EncodedObject) -> tuple[UPath, str]:
        """The I/O half of a write (safe to run in threads: it releases the GIL while it waits)."""
        folder = encoded.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        if not encoded.path.exists():
            encoded.path.write_bytes(encoded.payload)
        (folder / LATEST).write_text(encoded.path.name)
        return encoded.path, encoded.version

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
        return self.decode(*self.fetch(key, partition, version))

    def fetch(
        self, key: list[str] | tuple[str, ...], partition: str | None = None, version: str | None = None
    ) -> tuple[UPath, bytes]:
        """The I/O half of a read: where the object is and its bytes."""
        path = self.path_of(key, partition, version)
        return path, path.read_bytes()

    @staticmethod
    def decode(path: UPath, payload: bytes) -> Any:
        if path.suffix == ".parquet":
            return pd.read_parquet(io.BytesIO(payload))
        return json.loads(payload)

    def versions(self, key: list[str] | tuple[str, ...], partition: str | None = None) -> list[str]:
        folder = self.folder(key, partition)
        return sorted(p.stem for p in folder.iterdir() if p.name != LATEST) if folder.exists() else []
