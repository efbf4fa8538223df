"""Reading an exported table by its spec's declarations (delimiter, decimal mark, quoting, encoding, header
or names, sentinels), then typing its columns: numeric, categorical (mapped, matched to the allowed values),
boolean and datetime. Values that do not fit become missing and are counted, never guessed."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

from pipelines.spec import TabularColumn, TabularSpec

PARQUET_MAGIC = b"PAR1"


def read_table(content: bytes, name: str, spec: TabularSpec) -> pd.DataFrame:
    """The file's values as text, one column per spec column (named as in the spec), nothing typed yet.
    ValueError names what does not fit: a missing column, a row count of fields that is off."""
    parsing = spec.source.parsing
    sources = [c.source_name for c in spec.columns]
    if content[:4] == PARQUET_MAGIC:
        frame = pd.read_parquet(io.BytesIO(content)).astype("string").astype(object)
    else:
        try:
            frame = pd.read_csv(
                io.BytesIO(content),
                sep=parsing.delimiter,
                quotechar=parsing.quotechar,
                encoding=parsing.encoding,
                header=0 if parsing.header else None,
                names=None if parsing.header else sources,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=parsing.strip_whitespace,
                index_col=False,
            )
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ValueError(f"{name}: cannot be read as the spec declares it: {exc}") from None
        if not parsing.header and frame.shape[1] != len(sources):
            raise ValueError(f"{name}: {frame.shape[1]} fields per row, the spec names {len(sources)}")
    if parsing.strip_whitespace:
        frame.columns = [str(c).strip() for c in frame.columns]
    missing = [s for s in sources if s not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {', '.join(missing)}")
    frame = frame[sources].copy()
    frame.columns = [c.name for c in spec.columns]
    return frame


def normal_label(value: str) -> str:
    """Labels that differ only by surrounding spaces or a trailing period are one class: `>50K.` is `>50K`."""
    return value.strip().rstrip(".").strip()


@dataclass(frozen=True)
class TypedTable:
    frame: pd.DataFrame
    invalid: dict[
        str, int
    ]  # per column: values present but unusable (unparseable, out of range, not allowed)


def _present(text: pd.Series, spec: TabularSpec) -> pd.Series:
    """Text values with sentinels (and, when declared, surrounding whitespace) turned into missing."""
    parsing = spec.source.parsing
    values = text.astype(object).where(text.notna(), None)
    if parsing.strip_whitespace:
        values = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    sentinels = set(parsing.sentinels)
    return values.map(lambda v: None if v is None or v in sentinels else v)


def type_column(values: pd.Series, column: TabularColumn, spec: TabularSpec) -> pd.Series:
    """One column's present text values → its type; what does not fit becomes missing."""
    if column.mapping:
        values = values.map(lambda v: column.mapping.get(v, v) if v is not None else None)
    if column.type == "numeric":
        text = values.astype(object)
        if spec.source.parsing.decimal == ",":
            text = text.map(lambda v: v.replace(".", "").replace(",", ".") if isinstance(v, str) else v)
        out = pd.to_numeric(text, errors="coerce").astype(float)
        if column.min is not None:
            out = out.where(~(out < column.min))
        if column.max is not None:
            out = out.where(~(out > column.max))
        return out
    if column.type == "boolean":
        truth = {v.lower(): True for v in column.true_values} | {
            v.lower(): False for v in column.false_values
        }
        return values.map(lambda v: truth.get(str(v).lower()) if v is not None else None).astype("boolean")
    if column.type == "datetime":
        return pd.to_datetime(values, format=column.format, errors="coerce")
    if column.allowed is None:
        return values.astype(object)
    allowed = {normal_label(a): a for a in column.allowed}
    return values.map(lambda v: allowed.get(normal_label(v)) if isinstance(v, str) else None).astype(object)


def type_table(raw: pd.DataFrame, spec: TabularSpec, target: str | None = None) -> TypedTable:
    """The raw text table typed by the spec. The target's labels are also normalized when the spec lists
    no allowed values for it, so `>50K.` and ` >50K` count as one class either way."""
    out, invalid = {}, {}
    for column in spec.columns:
        present = _present(raw[column.name], spec)
        if column.name == target and column.type == "categorical" and column.allowed is None:
            present = present.map(lambda v: normal_label(v) if isinstance(v, str) else v)
        typed = type_column(present, column, spec)
        out[column.name] = typed
        invalid[column.name] = int((present.notna() & pd.Series(typed).isna().to_numpy()).sum())
    return TypedTable(pd.DataFrame(out, index=raw.index), invalid)


def clean_table(raw: pd.DataFrame, spec: TabularSpec, target: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Typed rows with a usable target, exact duplicates dropped; the invalid-value counts for the checks."""
    typed = type_table(raw, spec, target)
    frame = typed.frame[typed.frame[target].notna()].drop_duplicates().reset_index(drop=True)
    return frame, typed.invalid
