"""Metadata for people looking at an asset in the Dagster UI: rows, schema, a preview."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd


def frame_metadata(frame: pd.DataFrame, preview_rows: int = 5) -> dict[str, Any]:
    schema = dg.TableSchema(columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()])
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": schema,
        "preview": dg.MetadataValue.md(
            frame.head(preview_rows).to_markdown(index=False) if len(frame) else "_empty_"
        ),
    }
