"""Proposing a tabular spec from a sample of a file: encoding, delimiter, decimal mark, header, sentinels,
column types (numeric, boolean, datetime with its format, categorical with its values) and candidate
targets. What it is unsure of is listed, so the user checks those lines before registering the spec."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from pipelines.spec import TabularSpec
from pipelines.tabular_parsing import normal_label

SAMPLE_BYTES = 1 << 20
SENTINELS = ["", "?", "NA", "N/A", "n/a", "null", "NULL", "None", "-", "nan", "NaN"]
DATE_FORMATS = [
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y",
    "%d/%m/%Y %H:%M", "%Y/%m/%d",
]  # fmt: skip
BOOLEANS = {"true", "false", "yes", "no", "y", "n", "t", "f"}
MAX_CATEGORIES = 30
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


@dataclass
class InferredSpec:
    spec: dict[str, Any]
    unsure: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        """The proposal as YAML, what to check first as comments at the top."""
        notes = "".join(f"# UNSURE: {line}\n" for line in self.unsure)
        return notes + yaml.safe_dump(self.spec, sort_keys=False, allow_unicode=True)


def _decode(content: bytes) -> tuple[str, str, bool]:
    for encoding in ("utf-8", "cp1252"):
        try:
            return content.decode(encoding), encoding, encoding != "utf-8"
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1"), "latin-1", True


def _name(header: str, i: int) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", header.strip()).strip("_").lower()
    return name if name and not name[0].isdigit() else f"column_{i + 1}" if not name else f"c_{name}"


def _is_number(value: str, decimal: str) -> bool:
    return bool(_NUMBER.match(value)) and (decimal == "," or "," not in value)


def _column(values: pd.Series, name: str, decimal: str, unsure: list[str]) -> dict[str, Any]:
    present = values[values.notna()].astype(str)
    if present.empty:
        unsure.append(f"{name}: no values in the sample; typed categorical")
        return {"name": name, "type": "categorical"}
    if present.str.lower().isin(BOOLEANS).all() and present.str.lower().nunique() <= 2:
        return {"name": name, "type": "boolean"}
    numeric = present.map(lambda v: _is_number(v, decimal))
    if numeric.mean() >= 0.98:
        if numeric.mean() < 1:
            odd = sorted(set(present[~numeric]))[:5]
            unsure.append(f"{name}: numeric, but {', '.join(map(repr, odd))} are not numbers (sentinels?)")
        distinct = present.nunique()
        if distinct <= 3 and set(present) <= {"0", "1", "2", "3"}:
            unsure.append(
                f"{name}: numeric with {distinct} codes ({', '.join(sorted(set(present)))}): categorical with a mapping?"
            )
        return {"name": name, "type": "numeric"}
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(present, format=fmt, errors="coerce")
        if parsed.notna().mean() >= 0.98:
            if fmt in ("%d/%m/%Y", "%m/%d/%Y") and (parsed.dt.day <= 12).all():
                unsure.append(
                    f"{name}: dates read as {fmt}; day and month cannot be told apart in the sample"
                )
            return {"name": name, "type": "datetime", "format": fmt}
    labels = present.map(normal_label)
    column: dict[str, Any] = {"name": name, "type": "categorical"}
    if labels.nunique() <= MAX_CATEGORIES:
        column["allowed"] = sorted(labels.unique())
        if labels.nunique() < present.nunique():
            unsure.append(f"{name}: values differing only by spaces or a trailing period were merged")
    return column


def infer_spec(content: bytes, name: str = "new_pipeline") -> InferredSpec:
    """A proposed tabular spec for a CSV sample, with the points it is unsure of."""
    unsure: list[str] = []
    text, encoding, guessed = _decode(content[:SAMPLE_BYTES])
    if guessed:
        unsure.append(f"encoding: not UTF-8; read as {encoding}")
    lines = text.splitlines()
    if len(content) > SAMPLE_BYTES and lines:
        lines = lines[:-1]  # the sample may cut the last line
    sample = "\n".join(lines[:200])
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter, quotechar = dialect.delimiter, dialect.quotechar
    except csv.Error:
        delimiter, quotechar = ",", '"'
        unsure.append("delimiter: could not be detected; assumed ','")
    rows = list(
        csv.reader(
            io.StringIO("\n".join(lines)), delimiter=delimiter, quotechar=quotechar, skipinitialspace=True
        )
    )
    rows = [[v.strip() for v in r] for r in rows if r]
    if not rows:
        raise ValueError("the file has no rows")
    width = Counter(len(r) for r in rows).most_common(1)[0][0]
    rows = [r for r in rows if len(r) == width]
    first, rest = rows[0], rows[1:]
    numeric_first = sum(_NUMBER.match(v) is not None for v in first)
    numeric_rest = sum(_NUMBER.match(v) is not None for v in rest[0]) if rest else 0
    header = numeric_first < numeric_rest or (
        numeric_first == 0
        and len(set(first)) == width
        and not any(v in set(c for r in rest[:50] for c in r) for v in first)
    )
    if numeric_first == numeric_rest == 0:
        unsure.append(f"header: {'found' if header else 'none'} (no numbers to tell a header row apart)")
    names = (
        [_name(h, i) for i, h in enumerate(first)] if header else [f"column_{i + 1}" for i in range(width)]
    )
    body = rest if header else rows
    decimal = (
        "," if delimiter != "," and any(re.match(r"^-?\d+,\d+$", v) for r in body[:200] for v in r) else "."
    )
    if decimal == ",":
        unsure.append("decimal: ',' (values like 1,5 seen)")
    frame = pd.DataFrame(body, columns=names, dtype=object)
    seen = Counter(v for v in frame.to_numpy().ravel() if v in SENTINELS)
    sentinels = sorted(seen) or [""]
    frame = frame.where(~frame.isin(sentinels))
    columns = []
    for i, column in enumerate(names):
        found = _column(frame[column], column, decimal, unsure)
        if header and first[i].strip() != column:
            found["source"] = first[i].strip()
        columns.append(found)
    if any("allowed" in c for c in columns):
        unsure.append(
            "allowed values of categorical columns are the sample's: widen or drop them before registering"
        )
    candidates = [
        c["name"]
        for c in columns
        if c["type"] in ("categorical", "boolean") and 2 <= len(c.get("allowed", [0, 1])) <= 10
    ]
    target = candidates[-1] if candidates else columns[-1]["name"]
    kind = "classification" if target in candidates else "regression"
    if columns[[c["name"] for c in columns].index(target)]["type"] not in (
        "categorical",
        "boolean",
        "numeric",
    ):
        kind = "classification"
    unsure.append(
        f"target: '{target}' ({kind}) is a guess; other candidates: {', '.join(c for c in candidates if c != target) or 'none'}"
    )
    spec = {
        "kind": "tabular",
        "name": name,
        "description": f"Proposed from a sample of {len(body)} rows; check the lines marked UNSURE.",
        "source": {
            "kind": "files",
            "parsing": {
                "delimiter": delimiter,
                "decimal": decimal,
                "quotechar": quotechar,
                "encoding": encoding,
                "header": header,
                "strip_whitespace": True,
                "sentinels": sentinels,
            },
        },
        "columns": columns,
        "min_rows": max(10, min(200, len(body) // 2)),
        "tasks": [
            {
                "kind": kind,
                "name": target,
                "target": target,
                "candidates": [
                    {
                        "name": "linear",
                        "algorithm": "logistic_regression" if kind == "classification" else "ridge",
                        "params": {"max_iter": 1000} if kind == "classification" else {},
                    },
                    {"name": "gradient_boosting", "algorithm": "hist_gradient_boosting", "params": {}},
                ],
                "promotion": {"metric": "log_loss" if kind == "classification" else "mae"},
            }
        ],
    }
    TabularSpec.model_validate(spec)  # the proposal is always a valid spec
    return InferredSpec(spec, unsure)
