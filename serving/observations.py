"""What was observed, as the lake holds it: each pipeline's stations and how fresh their data is, a
station's cleaned readings over a time range, the share of missing values per day and column, and the
data versions the analyst app keys its caches on.

Clean partitions are immutable objects named by their content hash, so a decoded day is kept (bounded
LRU) and only its `_latest` pointer is read again."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from pipelines.features import current_value_column, target_columns
from pipelines.keys import AssetPath, PipelineKeys
from pipelines.quality import missing_share_by_day
from pipelines.spec import AnySpec, PipelineSpec, is_tabular
from resources.lake_store import LATEST, Lake
from serving.problems import Problem
from serving.read_models import ColumnInfo, MissingShare, StationHistory, Stations, StationSummary

log = logging.getLogger("mlops.api")
MAX_HISTORY_DAYS = 92
MAX_QUALITY_DAYS = 366


def utc(stamp: pd.Timestamp | str) -> pd.Timestamp:
    stamp = pd.Timestamp(stamp)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def days_between(start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    """The daily partition keys that hold hours in [start, end)."""
    first, last = start.floor("D"), (end - pd.Timedelta(microseconds=1)).floor("D")
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, last, freq="D")]


class Observations:
    """Reads the lake for the observation routes; pointers are re-read at most every `ttl` seconds."""

    def __init__(self, lake: Lake, ttl: float = 2.0) -> None:
        self.lake = lake
        self.ttl = ttl
        self._pointers: dict[tuple[str | None, ...], tuple[float, str | None]] = {}
        self._stations: dict[str, tuple[str, Stations]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lake-read")

    def pointer(self, asset: AssetPath, partition: str | None = None) -> str | None:
        """The content hash `_latest` names for an asset (or one of its partitions), or None."""
        now = time.monotonic()
        key = (*asset, partition)
        cached = self._pointers.get(key)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        try:
            name = (self.lake.folder(list(asset), partition) / LATEST).read_text().strip()
            value: str | None = name.rsplit(".", 1)[0]
        except FileNotFoundError:
            value = None
        self._pointers[key] = (now, value)
        return value

    def data_versions(self, spec: AnySpec) -> dict[str, str]:
        """Content hashes of the assets the read routes serve (features, each task's output)."""
        keys = PipelineKeys(spec)
        found = {}
        for asset in [keys.training_set] if is_tabular(spec) else [keys.features, *keys.outputs]:
            try:
                found[asset[-1]] = self.pointer(asset)
            except Exception:  # noqa: BLE001 - the lake is away: no version to report, not an error here
                log.warning("could not read the version of %s", "/".join(asset), exc_info=True)
        return {name: version for name, version in found.items() if version is not None}

    def _features(self, spec: PipelineSpec) -> tuple[str, pd.DataFrame]:
        features = PipelineKeys(spec).features
        version = self.pointer(features)
        if version is None:
            raise Problem(404, f"{spec.name} has no data yet: materialize the pipeline first")
        return version, self.lake.read(list(features), version=version)

    def stations(self, spec: PipelineSpec) -> Stations:
        """Every station with its first hour and latest observed hour (from the features table, one read
        per version of it)."""
        version = self.pointer(PipelineKeys(spec).features)
        with self._lock:
            cached = self._stations.get(spec.name)
            if cached and version is not None and cached[0] == version:
                return cached[1]
            version, features = self._features(spec)
            st, ts = spec.station_column, spec.timestamp_column
            observed = features[[current_value_column(t) for t in target_columns(spec)]].notna().any(axis=1)
            times = pd.to_datetime(features[ts], utc=True)
            first = times.groupby(features[st].astype(str)).min()
            latest = times[observed].groupby(features.loc[observed, st].astype(str)).max()
            summaries = [
                StationSummary(
                    station=station, first_hour=first[station], latest_observed=latest.get(station)
                )
                for station in sorted(first.index)
            ]
            result = Stations(
                pipeline=spec.name,
                data_version=version,
                latest_observed=latest.max() if len(latest) else None,
                stations=summaries,
            )
            self._stations[spec.name] = (version, result)
            return result

    def known_station(self, spec: PipelineSpec, station: str) -> None:
        known = [s.station for s in self.stations(spec).stations]
        if station not in known:
            raise Problem(
                404,
                f"no station '{station}' in {spec.name}; stations: {', '.join(known[:20])}"
                + (" …" if len(known) > 20 else ""),
            )

    @functools.lru_cache(maxsize=2048)  # noqa: B019 - one instance per process, lives as long
    def _day(self, clean: AssetPath, day: str, version: str) -> pd.DataFrame:
        return self.lake.read(list(clean), day, version)

    def clean_days(
        self, spec: PipelineSpec, start: pd.Timestamp, end: pd.Timestamp
    ) -> tuple[str, pd.DataFrame]:
        """The clean rows in [start, end) and a version naming exactly the partitions they came from."""
        days = days_between(start, end)
        clean = PipelineKeys(spec).clean
        versions = list(self._pool.map(lambda d: self.pointer(clean, d), days))
        stored = [(d, v) for d, v in zip(days, versions, strict=True) if v is not None]
        frames = list(self._pool.map(lambda dv: self._day(clean, *dv), stored))
        digest = hashlib.sha256("|".join(f"{d}/{v}" for d, v in stored).encode()).hexdigest()[:16]
        columns = [spec.station_column, spec.timestamp_column, *spec.column_names]
        non_empty = [f for f in frames if len(f)]
        frame = pd.concat(non_empty, ignore_index=True) if non_empty else pd.DataFrame(columns=columns)
        times = pd.to_datetime(frame[spec.timestamp_column], utc=True)
        frame = frame.assign(**{spec.timestamp_column: times})
        return digest, frame[(times >= start) & (times < end)]

    def history(
        self, spec: PipelineSpec, station: str, start: pd.Timestamp, end: pd.Timestamp
    ) -> StationHistory:
        self.known_station(spec, station)
        version, frame = self.clean_days(spec, start, end)
        st, ts = spec.station_column, spec.timestamp_column
        rows = frame[frame[st].astype(str) == station].sort_values(ts)
        rows = rows[[ts, *spec.column_names]].rename(columns={ts: "timestamp"})
        readings = rows.astype(object).where(rows.notna(), None).to_dict("records")
        return StationHistory(
            pipeline=spec.name,
            station=station,
            start=start,
            end=end,
            data_version=version,
            columns=[ColumnInfo(name=c.name, unit=c.unit, min=c.min, max=c.max) for c in spec.columns],
            readings=readings,
        )

    def missing(
        self, spec: PipelineSpec, start: pd.Timestamp, end: pd.Timestamp, station: str | None
    ) -> tuple[str, list[MissingShare]]:
        if station is not None:
            self.known_station(spec, station)
        version, frame = self.clean_days(spec, start, end)
        if station is not None:
            frame = frame[frame[spec.station_column].astype(str) == station]
        shares = missing_share_by_day(frame, spec)
        return version, [
            MissingShare(day=day.date(), column=column, share=float(share))
            for day, row in shares.iterrows()
            for column, share in row.items()
        ]
