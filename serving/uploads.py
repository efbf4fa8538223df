"""Checking an uploaded dataset before it lands: what it is (sniffed, not trusted from its name), that the
pipeline's spec can read it, which days it covers, and a safe object name for it."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pandas as pd

from pipelines.parsing import parse_source_file
from pipelines.spec import AnySpec, FilesSource, TabularSpec
from pipelines.tabular_parsing import read_table, type_table
from serving.problems import Problem

PARQUET_MAGIC = b"PAR1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CheckedUpload:
    object_name: str
    kind: str  # csv | parquet
    rows: int
    start: dt.date | None  # None for a table without a time column
    end: dt.date | None
    stations: list[str]
    readings: pd.DataFrame = field(repr=False)  # as the spec reads the file


def sniff(content: bytes, encoding: str) -> str:
    if content[:4] == PARQUET_MAGIC and content[-4:] == PARQUET_MAGIC:
        return "parquet"
    head = content[:4096]
    if b"\x00" in head:
        raise Problem(415, "the file is neither CSV text nor Parquet (it has binary content)")
    try:
        head.decode(encoding)
    except UnicodeDecodeError:
        try:  # a multi-byte character may be cut at 4096 bytes
            head[:-4].decode(encoding)
        except UnicodeDecodeError:
            raise Problem(415, f"the file is not {encoding} text, nor Parquet") from None
    return "csv"


def safe_object_name(original: str | None, kind: str) -> str:
    """`<UTC time>-<random>-<cleaned stem>.<kind>`: unique, no path parts, nothing a shell or URL minds."""
    stem = _UNSAFE.sub("-", PurePosixPath((original or "upload").replace("\\", "/")).stem).strip(".-")[:60]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}-{stem or 'upload'}.{kind}"


def check_table(content: bytes, name: str, kind: str, spec: TabularSpec) -> CheckedUpload:
    """A tabular upload: read and typed by the spec; it must hold rows with a target value."""
    target = spec.tasks[0].target
    try:
        rows = type_table(read_table(content, name, spec), spec, target).frame
    except (ValueError, KeyError) as exc:
        raise Problem(422, f"{spec.name}'s spec cannot read this file: {exc}") from None
    if rows[target].notna().sum() == 0:
        raise Problem(422, f"the file has no rows with a usable '{target}' value")
    times = rows[spec.time_column].dropna() if spec.time_column else pd.Series(dtype="datetime64[ns]")
    return CheckedUpload(
        object_name=name,
        kind=kind,
        rows=len(rows),
        start=times.min().date() if len(times) else None,
        end=times.max().date() if len(times) else None,
        stations=[],
        readings=rows,
    )


def check_upload(content: bytes, filename: str | None, spec: AnySpec) -> CheckedUpload:
    if isinstance(spec, TabularSpec):
        if not content:
            raise Problem(422, "the file is empty")
        kind = sniff(content, spec.source.parsing.encoding)
        return check_table(content, safe_object_name(filename, kind), kind, spec)
    if not isinstance(spec.source, FilesSource):
        raise Problem(
            409, f"pipeline '{spec.name}' reads from its {spec.source.kind}; it does not take uploaded files"
        )
    if not content:
        raise Problem(422, "the file is empty")
    kind = sniff(content, spec.source.parsing.encoding)
    name = safe_object_name(filename, kind)
    try:
        readings = parse_source_file(content, name, spec)
    except (ValueError, KeyError) as exc:
        raise Problem(422, f"{spec.name}'s spec cannot read this file: {exc}") from None
    stamps = readings[spec.timestamp_column].dropna()
    if stamps.empty:
        raise Problem(422, "the file has no readings with a timestamp")
    return CheckedUpload(
        object_name=name,
        kind=kind,
        rows=len(readings),
        start=stamps.min().date(),
        end=stamps.max().date(),
        stations=sorted(readings[spec.station_column].astype(str).unique().tolist())[:100],
        readings=readings,
    )
