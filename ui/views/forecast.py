"""Forecast: a station's last week observed and the next 24 hours with the interval band for every target,
the exceedance risk, the model and issue time, a CSV download, feedback on an hour that has passed, and
every station at a glance sorted by risk."""

from __future__ import annotations

import datetime as dt
import functools

import pandas as pd
import streamlit as st

from pipelines.spec import ClassificationTask, RegressionTask
from serving.read_models import ForecastPaths
from ui import charts, data
from ui.client import ApiError
from ui.format import when

st.title("Forecast")

with data.shown_failures():
    summaries = data.pipelines("timeseries")
client = data.api()
servable = [s for s in summaries if any(t.kind == "regression" and t.champion_version for t in s.tasks)]
if not servable:
    st.info(
        "No pipeline has a forecasting champion yet: materialize one (`make run`), or upload data on the "
        "Upload & retrain page.",
        icon=":material/hourglass_empty:",
    )
    st.stop()

names = [s.name for s in servable]
asked = st.query_params.get("pipeline")
choose_pipeline, choose_station = st.columns(2)
pipeline = choose_pipeline.selectbox("Pipeline", names, index=names.index(asked) if asked in names else 0)
summary = next(s for s in servable if s.name == pipeline)
with data.shown_failures():
    spec = data.spec(client, client.base_url, pipeline)
forecast_task = next(t for t in spec.tasks if isinstance(t, RegressionTask))
risk_task = next((t for t in spec.tasks if isinstance(t, ClassificationTask)), None)
versions_key = data.data_key(summary)

with data.shown_failures():
    paths: ForecastPaths = data.forecast_paths(
        client,
        client.base_url,
        pipeline,
        forecast_task.name,
        data.champion(summary, forecast_task.name),
        versions_key,
    )
risk = None
if risk_task is not None and data.champion(summary, risk_task.name):
    try:
        risk = data.exceedance(
            client,
            client.base_url,
            pipeline,
            risk_task.name,
            data.champion(summary, risk_task.name),
            versions_key,
        )
    except ApiError as exc:
        st.warning(f"No exceedance risk: {exc}", icon=":material/warning:")
probability = {r.station: r.probability for r in risk.stations} if risk else {}

rows = pd.DataFrame(
    [
        {"station": s.station, "issued_at": s.issued_at, **p.model_dump(exclude={"unit"})}
        for s in paths.stations
        for p in s.points
    ]
)
rows["target_time"] = pd.to_datetime(rows["target_time"], utc=True)
stations = [s.station for s in paths.stations]
asked_station = st.query_params.get("station")
station = choose_station.selectbox(
    "Station", stations, index=stations.index(asked_station) if asked_station in stations else 0
)
st.query_params.update(pipeline=pipeline, station=station)
path = next(s for s in paths.stations if s.station == station)
issued = pd.Timestamp(path.issued_at)

top = st.columns(4)
top[0].metric("Model version", f"v{paths.model_version}", help=f"{paths.model}, {path.source} forecast")
top[1].metric(
    "Issued at",
    f"{issued:%d %b %H:%M}",
    help=f"{when(issued)}: the last observed hour the forecast starts from.",
)
top[2].metric(
    "Interval", f"{paths.interval_level:.0%}", help="Prediction interval level (calibrated on held-out data)."
)
if risk is not None and risk_task is not None:
    p = probability.get(station)
    top[3].metric(
        f"P({risk.target} > {risk.threshold:g} within {risk.within_hours} h)",
        f"{p:.0%}" if p is not None else "—",
        help=f"From {risk.model} v{risk.model_version}: the chance that {risk.target} exceeds "
        f"{risk.threshold:g} {risk.unit or ''} at least once before {when(next(r.window_end for r in risk.stations if r.station == station))}.",
    )

start, end = issued - pd.Timedelta(days=7) + pd.Timedelta(hours=1), issued + pd.Timedelta(hours=1)
try:
    observed = data.history(
        client, client.base_url, pipeline, station, start.isoformat(), end.isoformat(), versions_key
    )
    history = pd.DataFrame(observed.readings)
    if not history.empty:
        history["timestamp"] = pd.to_datetime(history["timestamp"], utc=True)
except ApiError as exc:
    st.warning(f"No observed history: {exc}", icon=":material/warning:")
    history = pd.DataFrame(columns=["timestamp", *forecast_task.targets])

mine = rows[rows["station"] == station]
for target in forecast_task.targets:
    unit = spec.column(target).unit
    threshold = risk_task.threshold if risk_task is not None and risk_task.target == target else None
    part = mine[mine["target"] == target]
    st.subheader(f"{target.upper()}" + (f" ({unit})" if unit else ""))
    if paths.sources.get(target) == "baseline":
        st.caption(
            "Served by the **seasonal-naive baseline** (the same hour on the previous day, with its own "
            "calibrated interval): the model did not pass this target's gates.",
        )
    else:
        st.caption("Served by the **model**.")
    over = part[part["upper"] > threshold] if threshold is not None else part.iloc[0:0]
    if len(over):
        st.caption(
            f"The {paths.interval_level:.0%} band reaches the {threshold:g} limit at "
            f"{', '.join(t.strftime('%H:%M') for t in over['target_time'].head(6))}"
            + (" …" if len(over) > 6 else "")
        )
    drawn = data.chart(
        ("forecast", pipeline, station, target, versions_key),
        functools.partial(
            charts.forecast_chart,
            history[["timestamp", target]].rename(columns={target: "value"}).dropna(),
            part[["target_time", "prediction", "lower", "upper"]],
            f"{target} ({unit})" if unit else target,
            paths.interval_level,
            issued,
            threshold,
        ),
    )
    st.vega_lite_chart(drawn, width="stretch")

table = mine.pivot_table(
    index=["target_time", "horizon"], columns="target", values=["prediction", "lower", "upper"]
)
table.columns = [f"{t}_{k}" if k != "prediction" else t for k, t in table.columns]
table = table.reset_index().merge(
    mine.drop_duplicates("target_time")[["target_time", "prediction_id"]], on="target_time"
)
st.download_button(
    f"Download {station}'s forecast (CSV)",
    table.assign(station=station, issued_at=issued, model_version=paths.model_version).to_csv(index=False),
    file_name=f"{pipeline}_{station}_{issued:%Y%m%dT%H%M}.csv",
    mime="text/csv",
    icon=":material/download:",
)

with st.expander("Report what was observed at an hour that has passed"):
    now = pd.Timestamp.now("UTC")
    past = mine[mine["target_time"] <= now].drop_duplicates("target_time")
    if past.empty:
        st.caption("None of this forecast's hours has passed yet.")
    else:
        with st.form("feedback"):
            hour = st.selectbox(
                "Hour", past["target_time"].tolist(), format_func=lambda t: t.strftime("%Y-%m-%d %H:%M UTC")
            )
            target = st.selectbox("Pollutant", forecast_task.targets)
            value = st.number_input("Observed value", min_value=0.0, step=1.0)
            if st.form_submit_button("Send"):
                point = mine[(mine["target_time"] == hour) & (mine["target"] == target)].iloc[0]
                with data.shown_failures(stop=False):
                    answer = client.feedback(point["prediction_id"], value, target)
                    st.success(
                        f"Recorded {answer.observed:g} for {target} at {hour:%H:%M} (forecast {answer.predicted:.1f}, "
                        f"model v{answer.model_version})"
                        + ("" if answer.published else "; it is announced once the broker is back")
                        + "."
                    )

st.divider()
st.subheader("All stations")
summary_rows = []
for name, part in rows[rows["target"] == forecast_task.targets[0]].groupby("station", sort=False):
    peak = part.loc[part["prediction"].idxmax()]
    summary_rows.append(
        {
            "station": name,
            "risk": probability.get(name),
            f"peak {forecast_task.targets[0]}": round(peak["prediction"], 1),
            "peak hour": peak["target_time"].strftime("%d %b %H:%M"),
            "highest upper bound": round(part["upper"].max(), 1),
        }
    )
overview = pd.DataFrame(summary_rows)
if probability:
    overview = overview.sort_values("risk", ascending=False)
st.dataframe(
    overview,
    hide_index=True,
    width="stretch",
    column_config={
        "risk": st.column_config.ProgressColumn(
            f"P(exceedance within {risk.within_hours} h)" if risk else "risk",
            format="percent",
            min_value=0,
            max_value=1,
        )
    },
)
# The table above is the at-a-glance view; the twenty small multiples are drawn when asked for.
if st.toggle("Every station's next 24 hours, side by side", key="show_grid"):
    grid_target = st.segmented_control(
        "Pollutant", forecast_task.targets, default=forecast_task.targets[0], key="grid"
    )
    grid_target = grid_target or forecast_task.targets[0]
    grid_threshold = (
        risk_task.threshold if risk_task is not None and risk_task.target == grid_target else None
    )
    st.vega_lite_chart(
        data.chart(
            ("grid", pipeline, grid_target, versions_key),
            lambda: charts.station_grid(
                rows[rows["target"] == grid_target][
                    ["station", "target_time", "prediction", "lower", "upper"]
                ],
                grid_target,
                grid_threshold,
            ),
        )
    )
st.caption(
    f"Shown {when(dt.datetime.now(dt.UTC))}. Each point's prediction id starts with {paths.prediction_id} "
    "(in the CSV): quote it on the Feedback page."
)
