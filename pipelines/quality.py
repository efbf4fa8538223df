"""Data-quality verdicts for raw and clean tables, worded for the person who has to fix the file.

Each function returns `(passed, description, metadata)`; the assets turn them into blocking asset checks.
"""

from __future__ import annotations

import pandas as pd

from pipelines.spec import PipelineSpec

Verdict = tuple[bool, str, dict[str, float]]


def check_schema(raw: pd.DataFrame, spec: PipelineSpec) -> Verdict:
    """Every declared column is present and numeric columns hold numbers."""
    problems: list[str] = []
    for key in (spec.station_column, spec.timestamp_column):
        if key not in raw.columns:
            problems.append(f"column '{key}' is missing")
    for column in spec.columns:
        if column.name not in raw.columns:
            if column.required:
                problems.append(f"column '{column.name}' (source '{column.source_name}') is missing")
            continue
        if column.dtype != "str" and not pd.api.types.is_numeric_dtype(raw[column.name]):
            values = pd.to_numeric(raw[column.name], errors="coerce")
            bad = raw[column.name][values.isna() & raw[column.name].notna()]
            examples = ", ".join(repr(v) for v in bad.unique()[:3])
            problems.append(
                f"column '{column.name}' has {len(bad)} values that are not numbers (e.g. {examples})"
            )
    found = ", ".join(map(str, raw.columns))
    if problems:
        return False, "; ".join(problems) + f". Columns found: {found}", {"problems": float(len(problems))}
    return (
        True,
        f"all {len(spec.columns)} declared columns present with the declared types",
        {"problems": 0.0},
    )


def check_value_ranges(raw: pd.DataFrame, spec: PipelineSpec) -> Verdict:
    """The share of unusable readings (missing, sentinel, out of range) per column stays under the limit."""
    limit = spec.checks.max_missing_fraction
    failing, metadata = [], {}
    for column in spec.columns:
        if column.name not in raw.columns or column.dtype == "str" or len(raw) == 0:
            continue
        values = pd.to_numeric(raw[column.name], errors="coerce")
        sentinel = values.isin(column.sentinels)
        missing = values.isna()
        outside = (
            ~sentinel
            & ~missing
            & (
                (values < column.min if column.min is not None else False)
                | (values > column.max if column.max is not None else False)
            )
        )
        share = float((sentinel | missing | outside).mean())
        metadata[f"{column.name}.unusable_share"] = share
        if share > limit:
            parts = []
            if sentinel.any():
                parts.append(
                    f"{int(sentinel.sum())} sentinel ({', '.join(f'{s:g}' for s in column.sentinels)})"
                )
            if missing.any():
                parts.append(f"{int(missing.sum())} empty")
            if outside.any():
                parts.append(
                    f"{int(outside.sum())} outside [{column.min:g}, {column.max:g}] {column.unit or ''}".rstrip()
                )
            failing.append(
                f"'{column.name}': {share:.0%} of {len(values)} readings unusable ({', '.join(parts)})"
            )
    if failing:
        return False, "; ".join(failing) + f" — limit {limit:.0%} per column", metadata
    return True, f"every column has at most {limit:.0%} unusable readings", metadata


def check_row_count(raw: pd.DataFrame, spec: PipelineSpec, days: int) -> Verdict:
    """Enough rows per station and day (a partition that is nearly empty is a broken delivery)."""
    stations = raw[spec.station_column].nunique() if spec.station_column in raw.columns else 0
    minimum = spec.checks.min_rows_per_station_day * max(stations, 1) * days
    meta = {"rows": float(len(raw)), "stations": float(stations), "minimum": float(minimum)}
    if len(raw) == 0:
        return False, f"no rows for these {days} day(s): the source delivered nothing", meta
    if len(raw) < minimum:
        return (
            False,
            f"{len(raw)} rows for {stations} station(s) over {days} day(s); expected at least {minimum} "
            f"({spec.checks.min_rows_per_station_day} per station per day)",
            meta,
        )
    return True, f"{len(raw)} rows from {stations} station(s) over {days} day(s)", meta


def check_no_duplicates(clean: pd.DataFrame, spec: PipelineSpec) -> Verdict:
    dupes = int(clean.duplicated(subset=[spec.station_column, spec.timestamp_column]).sum())
    if dupes:
        return False, f"{dupes} duplicated (station, hour) rows", {"duplicates": float(dupes)}
    return True, "one row per (station, hour)", {"duplicates": 0.0}


def missing_share_by_day(clean: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """Per UTC day (rows) and declared column (columns), the share of hours without a value."""
    if clean.empty:
        return pd.DataFrame(columns=spec.column_names, dtype=float)
    days = pd.to_datetime(clean[spec.timestamp_column], utc=True).dt.floor("D")
    return clean[spec.column_names].isna().groupby(days).mean()
