"""The lake's range write: each day stored exactly as a write of that day alone would store it."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from upath import UPath

from resources.lake_store import Lake, content_hash


def _readings() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    hours = pd.date_range("2024-03-01", periods=24 * 4, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "station": pd.Categorical(np.tile(["a", "b", "c"], len(hours))[: len(hours)]),
            "site": np.tile(["x", "y"], len(hours) // 2),
            "timestamp": hours,
            "no2": rng.normal(40, 10, len(hours)),
            "count": rng.integers(0, 9, len(hours)),
        }
    )
    frame.loc[5, "no2"] = np.nan
    return frame.sample(frac=1, random_state=0)  # not in time order: a day's rows are scattered


def test_a_range_is_written_as_each_day_alone_would_be(tmp_path):
    frame = _readings()
    days = ["2024-02-29", "2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]
    day_of_row = frame["timestamp"].dt.strftime("%Y-%m-%d")
    lake = Lake(UPath(tmp_path))
    rows = {d: np.flatnonzero(day_of_row.to_numpy() == d) for d in days if (day_of_row == d).any()}

    together = lake.encode_partitions(["p", "raw"], frame, rows, days)

    for day, encoded in zip(days, together, strict=True):
        alone = frame[day_of_row == day].reset_index(drop=True)
        expected = lake.encode(["p", "raw"], day, alone)
        assert encoded.path == expected.path
        assert encoded.version == expected.version == content_hash(alone)
        stored = pd.read_parquet(io.BytesIO(encoded.payload))
        if len(alone):
            assert encoded.payload == expected.payload
            pd.testing.assert_frame_equal(stored, alone)
        else:
            assert stored.empty and list(stored.columns) == list(alone.columns)
    assert [len(pd.read_parquet(io.BytesIO(e.payload))) for e in together] == [0, 24, 24, 24, 24, 0]
    # An empty day keeps the columns' types (alone, an object column without values became Arrow `null`).
    schemas = {str(pq.read_schema(io.BytesIO(e.payload)).remove_metadata()) for e in together}
    assert len(schemas) == 1
