"""Reading source files using only the spec's declarations (delimiter, decimal comma, date/time columns).

`parse_source_file` turns bytes into the raw table: station, timestamp (UTC) and the declared columns,
typed, with nothing else changed. A column that is missing or cannot be read as numbers is kept as it is
(or left out) so that the raw asset's checks can say exactly what is wrong.
"""

from __future__ import annotations

import io
from pathlib import PurePosixPath

import pandas as pd

from pipelines.spec import FilesSource, ParsingSpec, PipelineSpec


class SourceFileError(ValueError):
    """A file that cannot be read at all (not CSV/Parquet, wrong encoding, no timestamp columns)."""


def _read_table(content: bytes, filename: str, parsing: ParsingSpec) -> pd.DataFrame:
    suffix = PurePosixPath(filename).suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(io.BytesIO(content)).astype("string")
        return pd.read_csv(
            io.BytesIO(content),
            sep=parsing.delimiter,
            dtype="string",
            encoding=parsing.encoding,
            skip_blank_lines=True,
            keep_default_na=False,
            na_values=[""],
        )
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError, OSError) as exc:
        raise SourceFileError(f"{filename}: cannot be read as {suffix.lstrip('.') or 'csv'}: {exc}") from exc


def _parse_numbers(values: pd.Series, decimal: str) -> pd.Series:
    text = values.str.strip()
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce")


def _timestamps(table: pd.DataFrame, parsing: ParsingSpec, filename: str) -> pd.Series:
    if parsing.date_column:
        missing = [c for c in (parsing.date_column, parsing.time_column) if c not in table.columns]
        if missing:
            raise SourceFileError(
                f"{filename}: timestamp columns {missing} are missing; found {list(table.columns)}"
            )
        text = table[parsing.date_column].str.strip() + " " + table[parsing.time_column].str.strip()
        fmt = (
            f"{parsing.date_format} {parsing.time_format}"
            if parsing.date_format and parsing.time_format
            else None
        )
    else:
        column = parsing.timestamp_column or "timestamp"
        if column not in table.columns:
            raise SourceFileError(
                f"{filename}: timestamp column '{column}' is missing; found {list(table.columns)}"
            )
        text, fmt = table[column].str.strip(), parsing.timestamp_format
    stamps = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = stamps.isna() & text.notna()
    if bad.any():
        first = bad.to_numpy().nonzero()[0][:3]
        examples = ", ".join(f"line {i + 2}: '{text.iloc[i]}'" for i in first)
        raise SourceFileError(
            f"{filename}: {int(bad.sum())} timestamps do not match the declared format '{fmt}' ({examples})"
        )
    if stamps.dt.tz is None:
        stamps = stamps.dt.tz_localize(parsing.timezone, ambiguous="NaT", nonexistent="shift_forward")
    return stamps.dt.tz_convert("UTC")


def parse_source_file(content: bytes, filename: str, spec: PipelineSpec) -> pd.DataFrame:
    """The raw table of one source file: station, timestamp and every declared column that is present."""
    if not isinstance(spec.source, FilesSource):
        raise TypeError(f"pipeline '{spec.name}' does not read files")
    parsing = spec.source.parsing
    table = _read_table(content, filename, parsing)
    unnamed = [c for c in table.columns if (str(c).startswith("Unnamed:") or not str(c).strip())]
    table = table.drop(columns=[c for c in unnamed if table[c].isna().all()])
    table = table.dropna(how="all").reset_index(drop=True)
    stamps = _timestamps(table, parsing, filename)

    if parsing.station_column and parsing.station_column in table.columns:
        station = table[parsing.station_column].str.strip().fillna(parsing.default_station or "")
    elif parsing.default_station:
        station = pd.Series(parsing.default_station, index=table.index, dtype="string")
    else:
        raise SourceFileError(f"{filename}: station column '{parsing.station_column}' is missing")

    raw = pd.DataFrame({spec.station_column: station.astype("string"), spec.timestamp_column: stamps})
    for column in spec.columns:
        if column.source_name not in table.columns:
            continue  # the schema check names it; raw keeps what the source gave
        text = table[column.source_name]
        if column.dtype == "str":
            raw[column.name] = text
            continue
        numbers = _parse_numbers(text, parsing.decimal)
        unreadable = numbers.isna() & text.str.strip().fillna("").ne("")
        raw[column.name] = text if unreadable.any() else numbers.astype("float64")
    return raw.dropna(subset=[spec.timestamp_column]).reset_index(drop=True)


def format_source_file(readings: pd.DataFrame, spec: PipelineSpec) -> bytes:
    """Write readings the way the spec's source declares them (the inverse of `parse_source_file`).

    Used to produce landing files from the simulator for demos and tests.
    """
    if not isinstance(spec.source, FilesSource):
        raise TypeError(f"pipeline '{spec.name}' does not read files")
    parsing = spec.source.parsing
    out = pd.DataFrame()
    stamps = pd.to_datetime(readings[spec.timestamp_column], utc=True).dt.tz_convert(parsing.timezone)
    if parsing.date_column:
        out[parsing.date_column] = stamps.dt.strftime(parsing.date_format or "%Y-%m-%d")
        out[parsing.time_column] = stamps.dt.strftime(parsing.time_format or "%H:%M:%S")
    else:
        out[parsing.timestamp_column or "timestamp"] = stamps.dt.strftime(
            parsing.timestamp_format or "%Y-%m-%dT%H:%M:%S"
        )
    if parsing.station_column:
        out[parsing.station_column] = readings[spec.station_column].to_numpy()
    for column in spec.columns:
        values = readings[column.name].map(lambda v: "" if pd.isna(v) else f"{v:g}")
        out[column.source_name] = (
            values.str.replace(".", parsing.decimal, regex=False) if parsing.decimal == "," else values
        )
    # Field-device exports end each line with empty columns; keep that quirk so parsing is exercised.
    lines = out.to_csv(sep=parsing.delimiter, index=False).splitlines()
    return "".join(line + parsing.delimiter * 2 + "\n" for line in lines).encode(parsing.encoding)
