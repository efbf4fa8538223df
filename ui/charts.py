"""The app's charts (Altair): a forecast with its band over what was observed, the same for every station
as small multiples, readings with their gaps marked, and missing values per day and column."""

from __future__ import annotations

import altair as alt
import pandas as pd

OBSERVED, FORECAST, BAND, LIMIT = "#3b3b3b", "#1f77b4", "#1f77b4", "#d62728"
# Drawn as SVG: crisp in screenshots, and the marks (the band's path) are elements a browser test can find.
SVG = {"embedOptions": {"renderer": "svg"}}


HOUR = alt.Tooltip("time:T", title="hour", format="%Y-%m-%d %H:%M")


def _values(*fields: str) -> list[alt.Tooltip]:
    return [alt.Tooltip(f"{f}:Q", format=".1f") for f in fields]


def _legend(names: list[str], colors: list[str]) -> alt.Color:
    return alt.Color(
        "series:N", scale=alt.Scale(domain=names, range=colors), legend=alt.Legend(title=None, orient="top")
    )


def forecast_chart(
    observed: pd.DataFrame,
    path: pd.DataFrame,
    label: str,
    level: float,
    issued_at: pd.Timestamp,
    threshold: float | None = None,
) -> alt.LayerChart:
    """`observed`: timestamp, value; `path`: target_time, prediction, lower, upper. The band is filled, the
    observations are points, the exceedance threshold (if any) a dashed line, the issue time a rule."""
    band_name = f"{level:.0%} interval"
    names, colors = ["observed", "forecast", band_name], [OBSERVED, FORECAST, BAND]
    color = _legend(names, colors)
    x = alt.X("time:T", title=None, axis=alt.Axis(format="%d %b %H:%M", labelAngle=0, tickCount=8))
    y_title = label
    past = observed.rename(columns={"timestamp": "time"}).assign(series="observed")
    ahead = path.rename(columns={"target_time": "time"})
    layers = [
        alt.Chart(ahead.assign(series=band_name))
        .mark_area(opacity=0.25)
        .encode(
            x=x,
            y=alt.Y("lower:Q", title=y_title),
            y2="upper:Q",
            color=color,
            tooltip=[HOUR, *_values("lower", "upper")],
        ),
        alt.Chart(ahead.assign(series="forecast"))
        .mark_line(strokeWidth=2)
        .encode(
            x=x,
            y="prediction:Q",
            color=color,
            tooltip=[HOUR, *_values("prediction", "lower", "upper")],
        ),
        alt.Chart(past)
        .mark_circle(size=14, opacity=0.8)
        .encode(
            x=x,
            y="value:Q",
            color=color,
            tooltip=[HOUR, *_values("value")],
        ),
        alt.Chart(pd.DataFrame({"time": [issued_at]}))
        .mark_rule(strokeDash=[2, 3], color="#888")
        .encode(x="time:T", tooltip=[alt.Tooltip("time:T", title="issued at", format="%Y-%m-%d %H:%M")]),
    ]
    if threshold is not None:
        layers.append(
            alt.Chart(pd.DataFrame({"limit": [threshold]}))
            .mark_rule(color=LIMIT, strokeDash=[6, 4], strokeWidth=1.5)
            .encode(y="limit:Q", tooltip=[alt.Tooltip("limit:Q", title="exceedance threshold")])
        )
    return alt.layer(*layers).properties(height=300, usermeta=SVG)


def station_grid(
    paths: pd.DataFrame, label: str, threshold: float | None, columns: int = 5
) -> alt.FacetChart:
    """Every station's path of one target: band and line, the threshold dashed; one panel per station.
    `paths`: station, target_time, prediction, lower, upper."""
    data = paths.assign(limit=threshold) if threshold is not None else paths
    base = alt.Chart().encode(
        x=alt.X("target_time:T", title=None, axis=alt.Axis(format="%H:%M", labelAngle=0))
    )
    layers = [
        base.mark_area(opacity=0.25, color=BAND).encode(y=alt.Y("lower:Q", title=label), y2="upper:Q"),
        base.mark_line(color=FORECAST).encode(
            y="prediction:Q",
            tooltip=[
                "station:N",
                alt.Tooltip("target_time:T", title="hour", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("prediction:Q", format=".1f"),
                alt.Tooltip("upper:Q", format=".1f"),
            ],
        ),
    ]
    if threshold is not None:
        layers.append(alt.Chart().mark_rule(color=LIMIT, strokeDash=[6, 4]).encode(y="limit:Q"))
    return (
        alt.layer(*layers, data=data)
        .properties(width=140, height=110)
        .facet(facet=alt.Facet("station:N", title=None), columns=columns)
    )


def readings_chart(readings: pd.DataFrame, units: dict[str, str | None]) -> alt.FacetChart:
    """One panel per column: the cleaned readings as a line broken where a value is missing, and every
    missing hour shaded. `readings`: timestamp and one column per measurement."""
    long = readings.melt(id_vars="timestamp", var_name="column", value_name="value")
    long["column"] = long["column"].map(lambda c: f"{c} ({units.get(c)})" if units.get(c) else c)
    long["missing"] = long["value"].isna()
    long["end"] = long["timestamp"] + pd.Timedelta(hours=1)
    x = alt.X("timestamp:T", title=None, axis=alt.Axis(format="%d %b", labelAngle=0))
    line = (
        alt.Chart()
        .mark_line(strokeWidth=1.2, color=FORECAST)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=None),
            tooltip=[
                alt.Tooltip("timestamp:T", title="hour", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("value:Q", format=".2f"),
            ],
        )
    )
    gaps = (
        alt.Chart()
        .transform_filter("datum.missing")
        .mark_rect(color=LIMIT, opacity=0.25)
        .encode(
            x=x, x2="end:T", tooltip=[alt.Tooltip("timestamp:T", title="missing", format="%Y-%m-%d %H:%M")]
        )
    )
    return (
        alt.layer(gaps, line, data=long)
        .properties(height=90, width="container")
        .facet(row=alt.Row("column:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
        .resolve_scale(y="independent")
    )


def missing_heatmap(missing: pd.DataFrame) -> alt.Chart:
    """Share of missing values per day (x) and column (y). `missing`: day, column, share."""
    return (
        alt.Chart(missing)
        .mark_rect()
        .encode(
            x=alt.X(
                "day:O", title=None, timeUnit="yearmonthdate", axis=alt.Axis(format="%d %b", labelAngle=-45)
            ),
            y=alt.Y("column:N", title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.Color(
                "share:Q",
                title="missing",
                scale=alt.Scale(domain=[0, 1], range=["#ffffff", "#b30000"]),
                legend=alt.Legend(format="%"),
            ),
            tooltip=[
                alt.Tooltip("day:T", format="%Y-%m-%d"),
                "column:N",
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(height=alt.Step(24))
    )
