"""Table: a tabular pipeline's prediction form, generated from its spec (one field per input column, typed,
categories from the allowed values), the champion's answer with its prediction set, feedback with the
observed class, the champion's metrics per slice, and uploading a new export (admin key)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from pipelines.spec import TabularColumn, TabularSpec
from ui import data
from ui.format import headline_metrics

LAST = "table_prediction"
UNKNOWN = "(unknown)"

st.title("Table")
st.caption("Predict one row of a tabular pipeline from raw values, as the API takes them.")

with data.shown_failures():
    summaries = data.pipelines("tabular")
client = data.api()
if not summaries:
    st.info("The API serves no tabular pipeline: add a spec with `kind: tabular` under pipelines/specs/.")
    st.stop()
pipeline = st.selectbox("Pipeline", [s.name for s in summaries])
summary = next(s for s in summaries if s.name == pipeline)
with data.shown_failures():
    spec = data.spec(client, client.base_url, pipeline)
assert isinstance(spec, TabularSpec)
task = spec.tasks[0]
model = next(t for t in summary.tasks if t.name == task.name)


def field(column: TabularColumn) -> Any:
    """One input widget for a column; None (sent as null) when an optional value is left unknown."""
    label = column.name + ("" if column.required else " (optional)")
    if column.type == "numeric":
        return st.number_input(
            label, min_value=column.min, max_value=column.max, value=None, key=f"in_{column.name}"
        )
    if column.type == "boolean":
        chosen = st.selectbox(label, [UNKNOWN, "yes", "no"], key=f"in_{column.name}")
        return None if chosen == UNKNOWN else chosen == "yes"
    if column.type == "datetime":
        chosen = st.date_input(label, value=None, key=f"in_{column.name}")
        return chosen.isoformat() if isinstance(chosen, dt.date) else None
    if column.allowed:
        options = ([] if column.required else [UNKNOWN]) + list(column.allowed)
        chosen = st.selectbox(label, options, key=f"in_{column.name}")
        return None if chosen == UNKNOWN else chosen
    return st.text_input(label, key=f"in_{column.name}").strip() or None


predict, quality, upload = st.tabs(["Predict", "Model and slices", "Upload"])
with predict:
    if model.champion_version is None:
        st.info(model.load_error or f"{pipeline} has no champion yet: upload an export to train one.")
    with st.form("row"):
        columns = spec.input_columns(task)
        halves = st.columns(2)
        row = {}
        for i, column in enumerate(columns):
            with halves[i % 2]:
                row[column.name] = field(column)
        sent = st.form_submit_button("Predict", type="primary", icon=":material/online_prediction:")
    if sent:
        with data.shown_failures(stop=False):
            st.session_state[LAST] = client.predict_rows(pipeline, [row], task.name)
    answer = st.session_state.get(LAST)
    if answer and answer.get("pipeline") == pipeline:
        found = answer["predictions"][0]
        if task.kind == "classification":
            left, right = st.columns(2)
            left.metric(task.target, found["label"], help=f"model v{answer['model_version']}")
            right.metric("Probability", f"{found['probability']:.1%}")
            st.markdown(
                f"**{answer['level']:.0%} prediction set:** {', '.join(found['prediction_set'])} "
                "— the classes that hold the truth with that probability."
            )
            st.bar_chart(pd.Series(found["probabilities"], name="probability"))
            observed = st.selectbox("What was observed?", list(found["probabilities"]))
            if st.button("Record feedback", icon=":material/send:"):
                with data.shown_failures(stop=False):
                    done = client.feedback(found["prediction_id"], observed)
                    st.success(f"Recorded for {done.prediction_id} (event {done.event_id}).")
        else:
            st.metric(task.target, f"{found['prediction']:.3g}")
            st.caption(f"{answer['level']:.0%} interval: {found['lower']:.3g} – {found['upper']:.3g}")
        st.caption(f"Prediction id `{found['prediction_id']}` (quote it for feedback).")

with quality:
    if model.champion_version is None:
        st.info("No champion yet.")
    else:
        st.markdown(f"**{model.model}** version **{model.champion_version}** on the holdout")
        st.table(pd.DataFrame(headline_metrics(model.kind, model.metrics)))
        slices = {
            k.removeprefix("holdout.slice."): v
            for k, v in model.metrics.items()
            if k.startswith("holdout.slice.")
        }
        if slices:
            metric = task.promotion.metric
            table = pd.DataFrame(
                [
                    {"slice": name.rsplit(".", 1)[0], "metric": name.rsplit(".", 1)[1], "value": value}
                    for name, value in slices.items()
                ]
            ).pivot(index="slice", columns="metric", values="value")
            overall = model.metrics.get(f"holdout.{metric}")
            st.caption(
                f"Per slice; a slice whose {metric} is worse than overall ({overall:.3f}) by more than "
                f"{task.slice_tolerance:.0%} is flagged by the `slices` check."
                if overall is not None
                else "Per slice."
            )
            st.dataframe(table, width="stretch")

with upload:
    admin = data.is_admin()
    parsing = spec.source.parsing
    st.caption(
        f"CSV separated by '{parsing.delimiter}', decimal '{parsing.decimal}', "
        + ("with a header row" if parsing.header else "without a header: columns in the spec's order")
        + f"; missing as {', '.join(repr(s) for s in parsing.sentinels)}; or Parquet."
    )
    sent_file = st.file_uploader("Export", type=["csv", "parquet"], key="table_file")
    if st.button(
        "Upload and train", type="primary", disabled=not (admin and sent_file), icon=":material/send:"
    ):
        with data.shown_failures(stop=False):
            accepted = client.upload(pipeline, sent_file.name, sent_file.getvalue())
            st.success(
                f"Sent: task {accepted.task_id} ({accepted.detail.get('rows')} rows); follow it on Upload & retrain."
            )
    if not admin:
        st.caption("Uploading needs an API key with the admin scope.")
