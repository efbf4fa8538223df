"""A dry run of an upload: the file read with the pipeline's spec exactly as ingestion will read it, what
it holds against what the spec expects, the values and rows ingestion will drop and why, and the verdicts
of the raw asset's blocking checks, before anything is stored or announced."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipelines.quality import check_row_count, check_schema, check_value_ranges
from pipelines.spec import FilesSource, PipelineSpec
from serving.read_models import CheckVerdict, ExpectedColumn, RejectedRow, UploadPreview, UploadProblem
from serving.uploads import check_upload

FIRST_ROWS = 10
MAX_REJECTED = 20


def source_columns(content: bytes, kind: str, spec: PipelineSpec) -> list[str]:
    """The file's own column names (its header), before the spec renames anything."""
    assert isinstance(spec.source, FilesSource)
    if kind == "parquet":
        return list(pq.read_schema(io.BytesIO(content)).names)
    parsing = spec.source.parsing
    header = content.split(b"\n", 1)[0].decode(parsing.encoding, errors="replace").strip("\r\n")
    return [name.strip() for name in header.split(parsing.delimiter) if name.strip()]


def value_problems(readings: pd.DataFrame, spec: PipelineSpec) -> tuple[list[UploadProblem], np.ndarray]:
    """Per column, the values that cleaning turns into missing, and per row whether any value is usable."""
    problems: list[UploadProblem] = []
    usable = np.zeros(len(readings), dtype=bool)
    for column in spec.columns:
        if column.name not in readings.columns or column.dtype == "str":
            continue
        raw = readings[column.name]
        values = pd.to_numeric(raw, errors="coerce")
        text = raw.astype("string").str.strip().fillna("")
        reasons = {
            "not a number": values.isna() & text.ne(""),
            "empty": text.eq("") & values.isna(),
            f"sentinel for a missing reading ({', '.join(f'{s:g}' for s in column.sentinels)})": values.isin(
                column.sentinels
            ),
        }
        outside = pd.Series(False, index=readings.index)
        if column.min is not None:
            outside |= values < column.min
        if column.max is not None:
            outside |= values > column.max
        outside &= ~values.isin(column.sentinels)
        bounds = f"[{column.min if column.min is not None else '-∞'}, {column.max if column.max is not None else '∞'}]"
        reasons[f"outside the valid range {bounds} {column.unit or ''}".rstrip()] = outside
        bad = pd.Series(False, index=readings.index)
        for reason, mask in reasons.items():
            bad |= mask
            if mask.any():
                problems.append(
                    UploadProblem(
                        column=column.name,
                        reason=reason,
                        count=int(mask.sum()),
                        examples=[str(v) for v in raw[mask].unique()[:3]],
                    )
                )
        usable |= ~bad.to_numpy()
    return problems, usable


def preview_upload(content: bytes, filename: str | None, spec: PipelineSpec) -> UploadPreview:
    checked = check_upload(content, filename, spec)  # 409/415/422 for what cannot be read at all
    readings = checked.readings
    st, ts = spec.station_column, spec.timestamp_column
    found = source_columns(content, checked.kind, spec)
    problems, usable = value_problems(readings, spec)
    hours = pd.to_datetime(readings[ts], utc=True).dt.floor("h")
    duplicate = pd.DataFrame({st: readings[st], ts: hours}).duplicated().to_numpy()
    rejected = [
        RejectedRow(row=i + 1, reason="same station and hour as an earlier row (the first is kept)")
        if duplicate[i]
        else RejectedRow(
            row=i + 1, reason="no usable reading (every value missing, a sentinel or out of range)"
        )
        for i in np.flatnonzero(duplicate | ~usable)
    ]
    days = (checked.end - checked.start).days + 1
    verdicts = {
        "schema": check_schema(readings, spec),
        "value_ranges": check_value_ranges(readings, spec),
        "row_count": check_row_count(readings, spec, days),
    }
    head = readings.head(FIRST_ROWS).astype(object)
    return UploadPreview(
        pipeline=spec.name,
        kind=checked.kind,
        rows=checked.rows,
        start=checked.start,
        end=checked.end,
        stations=checked.stations,
        columns_found=found,
        expected=[
            ExpectedColumn(
                name=c.name,
                source=c.source_name,
                unit=c.unit,
                min=c.min,
                max=c.max,
                found=c.source_name in found,
            )
            for c in spec.columns
        ],
        first_rows=head.where(head.notna(), None).to_dict("records"),
        problems=problems,
        rejected_rows=len(rejected),
        rejected=rejected[:MAX_REJECTED],
        checks=[CheckVerdict(check=name, passed=v[0], message=v[1]) for name, v in verdicts.items()],
    )
