"""Data quality: a station's cleaned readings over a time range with the gaps visible, the share of missing
values per day and column, and the latest result of every asset check with what it said."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from ui import charts, data
from ui.client import ApiError
from ui.format import when

st.title("Data quality")

with data.shown_failures():
    summaries = data.pipelines("timeseries")
client = data.api()
pick, where = st.columns([1, 1])
pipeline = pick.selectbox("Pipeline", [s.name for s in summaries])
summary = next(s for s in summaries if s.name == pipeline)
try:
    known = data.stations(client, client.base_url, pipeline, summary.data_versions.get("features"))
except ApiError as exc:
    known = None
    st.info(f"No readings yet: {exc}", icon=":material/hourglass_empty:")

if known is not None and known.stations:
    names = [s.station for s in known.stations]
    station = where.selectbox("Station", ["all stations", *names])
    latest = (known.latest_observed or dt.datetime.now(dt.UTC)).date()
    first_day = min(s.first_hour for s in known.stations if s.first_hour).date()
    chosen = st.date_input(
        "Days",
        value=(max(first_day, latest - dt.timedelta(days=13)), latest),
        min_value=first_day,
        max_value=latest,
    )
    start, end = (chosen[0], chosen[-1]) if isinstance(chosen, tuple | list) and chosen else (latest, latest)
    one = None if station == "all stations" else station

    with data.shown_failures():
        quality = client.quality(pipeline, start.isoformat(), end.isoformat(), one)
    if one is not None:
        if (end - start).days >= 92:
            st.caption("Readings are drawn for at most 92 days at a time: pick a shorter range to see them.")
        else:
            with data.shown_failures(stop=False):
                readings = data.history(
                    client,
                    client.base_url,
                    pipeline,
                    one,
                    pd.Timestamp(start, tz="UTC").isoformat(),
                    (pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)).isoformat(),
                    data.data_key(summary),
                )
                frame = pd.DataFrame(readings.readings)
                if frame.empty:
                    st.info(f"No readings at {one} in these days.")
                else:
                    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
                    gaps = int(frame.drop(columns="timestamp").isna().any(axis=1).sum())
                    st.subheader(f"Cleaned readings at {one}")
                    st.caption(
                        f"{len(frame)} hours, {gaps} with a missing value (shaded). Gaps up to the spec's limit are "
                        "interpolated during cleaning; longer ones stay missing."
                    )
                    units = {c.name: c.unit for c in readings.columns}
                    st.altair_chart(charts.readings_chart(frame, units), width="stretch")

    st.subheader("Missing values per day")
    missing = pd.DataFrame([m.model_dump() for m in quality.missing])
    if missing.empty:
        st.caption("No cleaned data in these days.")
    else:
        worst = missing.loc[missing["share"].idxmax()]
        st.caption(
            f"{'At ' + one if one else 'Over all stations'}: worst {worst['column']} on {worst['day']} "
            f"({worst['share']:.0%} of its hours missing)."
        )
        st.altair_chart(charts.missing_heatmap(missing), width="stretch", theme=None)
        with st.expander("As a table"):
            st.dataframe(
                missing.pivot(index="day", columns="column", values="share"),
                width="stretch",
                column_config={
                    c: st.column_config.NumberColumn(format="percent") for c in missing["column"].unique()
                },
            )
else:
    with data.shown_failures():
        quality = client.quality(pipeline)

st.subheader("Latest asset checks")
if quality.checks_error:
    st.warning(f"Check results are unavailable: {quality.checks_error}.", icon=":material/cloud_off:")
elif not quality.checks:
    st.caption("No asset checks have run yet.")
else:
    checks = pd.DataFrame([c.model_dump() for c in quality.checks])
    failing = checks[checks["status"].isin(["failed", "execution failed"])]
    if len(failing):
        st.error(
            f"{len(failing)} check(s) failing: "
            + "; ".join(f"{r.asset} {r.check}: {r.message}" for r in failing.itertuples()),
            icon=":material/error:",
        )
    else:
        st.success(
            f"All {int((checks['status'] == 'passed').sum())} checks that ran passed.",
            icon=":material/check:",
        )
    checks["evaluated"] = checks["evaluated_at"].map(lambda t: when(t) if t is not None else "—")
    st.dataframe(
        checks[["asset", "check", "status", "blocking", "message", "evaluated", "run_url"]],
        hide_index=True,
        width="stretch",
        column_config={
            "run_url": st.column_config.LinkColumn("run", display_text="open"),
            "message": st.column_config.TextColumn("what it said", width="large"),
        },
    )
