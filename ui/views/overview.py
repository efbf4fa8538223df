"""Overview: every pipeline, its champions and their headline metrics, how fresh its data is, and what
Dagster last did with it."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from serving.schemas import PipelineSummary, TaskModel
from ui import data
from ui.client import ApiError
from ui.format import age, headline_metrics, when

STATUS_ICONS = {
    "success": "✅",
    "failure": "❌",
    "canceled": "⏹️",
    "started": "⏳",
    "queued": "⏳",
    "starting": "⏳",
}

st.title("Overview")
st.caption("Every pipeline, the models serving it, and how fresh its data is.")

with data.shown_failures():
    summaries = data.pipelines()
client = data.api()


def champion_card(task: TaskModel) -> None:
    if task.champion_version is None:
        st.markdown(f"**{task.name}** · no champion yet")
        st.caption(
            task.load_error
            or "No version has passed the promotion gates yet: materialize the pipeline or upload data."
        )
        return
    st.markdown(f"**{task.name}** · version **{task.champion_version}**")
    promoted = when(task.promoted_at) if task.promoted_at else "not recorded"
    st.caption(
        f"promoted {promoted} · data {task.data_versions.get('training_set', '—')} · code {task.code_version or '—'}"
    )
    figures = pd.DataFrame(headline_metrics(task.kind, task.metrics))
    st.table(figures.set_index("target") if "target" in figures else figures.set_index(pd.Index(["holdout"])))
    if task.mlflow_run_url:
        st.link_button("MLflow run", task.mlflow_run_url, icon=":material/open_in_new:")


def freshness(summary: PipelineSummary) -> None:
    try:
        known = data.stations(client, client.base_url, summary.name, summary.data_versions.get("features"))
    except ApiError as exc:
        st.info(f"No data yet: {exc.detail}.", icon=":material/hourglass_empty:")
        return
    latest = known.latest_observed
    st.metric(
        "Latest observed hour",
        latest.strftime("%Y-%m-%d %H:%M UTC") if latest else "—",
        help="The newest hour with a reading at any station.",
    )
    stale = [s.station for s in known.stations if latest and s.latest_observed and s.latest_observed < latest]
    st.caption(
        f"{len(known.stations)} stations · {age(latest)}"
        + (f" · behind: {', '.join(stale)}" if stale else "")
    )


def pipeline_card(summary: PipelineSummary) -> None:
    st.subheader(summary.name)
    st.caption(summary.description)
    fresh, run = st.columns(2)
    with fresh:
        if summary.kind == "tabular":
            st.caption("A table of rows, not stations and hours: predict and upload on the Table page.")
        else:
            freshness(summary)
    with run:
        try:
            runs = client.runs(summary.name)
        except ApiError as exc:
            st.warning(f"Run state unknown: {exc.detail}.", icon=":material/cloud_off:")
        else:
            if runs.latest is None:
                st.metric("Last run", "none yet")
            else:
                latest_run = runs.latest
                icon = STATUS_ICONS.get(latest_run.status, ":material/pending:")
                st.metric("Last run", latest_run.status, icon=icon)
                ended = latest_run.ended_at or latest_run.started_at
                st.caption(f"{latest_run.job} · {when(ended) if ended else 'not started'}")
                st.link_button("Run in Dagster", latest_run.url, icon=":material/open_in_new:")
            if runs.in_progress:
                st.caption(f"{len(runs.in_progress)} run(s) in progress or queued")
            outputs = [u for k, u in runs.asset_urls.items() if k.endswith(("forecasts", "exceedance_risk"))]
            if outputs:
                st.link_button("Assets in Dagster", outputs[0], icon=":material/account_tree:")
    columns = st.columns(max(1, len(summary.tasks)))
    for column, task in zip(columns, summary.tasks, strict=True):
        with column:
            champion_card(task)


if not summaries:
    st.info("The API serves no pipeline: add a spec under pipelines/specs/.")
for item in summaries:
    with st.container(border=True):
        pipeline_card(item)
st.caption(f"As of {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.")
