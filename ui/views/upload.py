"""Upload & retrain (admin key): a file read with the pipeline's spec before it is sent (first rows, columns
found against those expected, values and rows ingestion drops and why, the blocking checks' verdicts),
then sent; or a retraining with an algorithm and parameters the spec allows. Each becomes a task followed
here until its run ends, with the new champion or the gate that blocked it."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import streamlit as st

from serving.read_models import UploadPreview
from serving.schemas import PipelineSummary
from ui import data
from ui.client import ApiError

TASKS = "followed_tasks"
FINISHED = {"succeeded", "failed", "canceled"}
LABELS = {
    "pending": "waiting for Dagster to pick it up",
    "queued": "queued in Dagster",
    "starting": "starting",
    "running": "running",
    "succeeded": "finished",
    "failed": "failed",
    "canceled": "canceled",
}

st.title("Upload & retrain")

with data.shown_failures():
    summaries = data.pipelines()
client = data.api()
admin = data.is_admin()
if not admin:
    st.warning(
        "Uploading and retraining need an API key with the admin scope; this key can look but not send. "
        "Paste an admin key in the sidebar.",
        icon=":material/lock:",
    )


def champions(summary: PipelineSummary) -> dict[str, str | None]:
    return {t.name: t.champion_version for t in summary.tasks}


def follow(task_id: str, pipeline: str, what: str) -> None:
    """Remember a task to follow, with the champions it may replace."""
    before = next(s for s in data.pipelines() if s.name == pipeline)
    st.session_state.setdefault(TASKS, []).insert(
        0, {"id": task_id, "pipeline": pipeline, "what": what, "before": champions(before), "status": None}
    )


def show_preview(preview: UploadPreview) -> bool:
    """The preview; True when ingestion's blocking checks would pass."""
    days = (preview.end - preview.start).days + 1
    st.markdown(
        f"**{preview.rows} rows** ({preview.kind}) · {days} day(s), {preview.start} to {preview.end} · "
        f"stations: {', '.join(preview.stations)}"
    )
    for check in preview.checks:
        (st.success if check.passed else st.error)(f"{check.check}: {check.message}")
    expected = pd.DataFrame([c.model_dump() for c in preview.expected])
    expected["found"] = expected["found"].map({True: "✓ found", False: "✗ missing"})
    extra = [c for c in preview.columns_found if c not in set(expected["source"])]
    st.markdown(
        "**Columns the spec expects**" + (f" (the file also has: {', '.join(extra)})" if extra else "")
    )
    st.dataframe(
        expected[["source", "name", "unit", "min", "max", "found"]], hide_index=True, width="stretch"
    )
    st.markdown("**First rows, as the spec reads them**")
    st.dataframe(pd.DataFrame(preview.first_rows), hide_index=True, width="stretch")
    if preview.problems:
        st.markdown("**Values that will be treated as missing**")
        st.dataframe(
            pd.DataFrame([p.model_dump() for p in preview.problems]), hide_index=True, width="stretch"
        )
    if preview.rejected_rows:
        st.markdown(f"**{preview.rejected_rows} row(s) ingestion will drop**")
        st.dataframe(
            pd.DataFrame([r.model_dump() for r in preview.rejected]), hide_index=True, width="stretch"
        )
    else:
        st.caption("No row will be dropped.")
    return all(c.passed for c in preview.checks)


upload, retrain = st.tabs(["Upload a file", "Retrain a model"])

with upload:
    takers = [s.name for s in summaries if s.accepts_uploads and s.kind == "timeseries"]  # tables: Table page
    if not takers:
        st.info("No pipeline reads uploaded files (their specs have a `files` source).")
    else:
        pipeline = st.selectbox("Pipeline", takers, key="upload_pipeline")
        with data.shown_failures(stop=False):
            spec = data.spec(client, client.base_url, pipeline)
            parsing = spec.source.parsing
            st.caption(
                f"{pipeline} reads CSV separated by '{parsing.delimiter}' with decimal '{parsing.decimal}'"
                + (
                    f", dates in '{parsing.date_column}' and times in '{parsing.time_column}'"
                    if parsing.date_column
                    else ""
                )
                + f", or Parquet; columns {', '.join(c.source_name for c in spec.columns)}."
            )
        sent = st.file_uploader("File", type=["csv", "parquet"], key="upload_file", max_upload_size=64)
        if sent is not None:
            content = sent.getvalue()
            digest = hashlib.sha256(content).hexdigest()
            cached = st.session_state.get("preview")
            try:
                if not cached or cached[0] != (pipeline, digest):
                    st.session_state["preview"] = (
                        (pipeline, digest),
                        client.preview(pipeline, sent.name, content),
                    )
                preview = st.session_state["preview"][1]
            except ApiError as exc:
                st.error(f"This file cannot be ingested: {exc}", icon=":material/block:")
            else:
                ok = show_preview(preview)
                if not ok:
                    st.warning(
                        "Fix the file first: ingestion's blocking checks would stop it.",
                        icon=":material/block:",
                    )
                if st.button("Send it", type="primary", disabled=not (admin and ok), icon=":material/send:"):
                    with data.shown_failures(stop=False):
                        accepted = client.upload(pipeline, sent.name, content)
                        follow(accepted.task_id, pipeline, f"upload of {sent.name} ({preview.rows} rows)")
                        st.session_state.pop("preview", None)
                        st.toast(f"Sent: task {accepted.task_id}")

with retrain:
    pipeline = st.selectbox("Pipeline", [s.name for s in summaries], key="train_pipeline")
    with data.shown_failures(stop=False):
        spec = data.spec(client, client.base_url, pipeline)
        task = st.selectbox("Task", [t.name for t in spec.tasks], key="train_task")
        candidates = spec.task(task).candidates
        choice = st.selectbox(
            "Algorithm",
            candidates,
            format_func=lambda c: f"{c.name} ({c.algorithm})",
            key="train_algorithm",
        )
        text = st.text_area(
            "Parameters (JSON; merged over the spec's)",
            json.dumps(choice.params, indent=1),
            key=f"train_params_{pipeline}_{task}_{choice.name}",
        )
        try:
            params = json.loads(text or "{}")
            valid = isinstance(params, dict)
        except json.JSONDecodeError as exc:
            valid = False
            st.error(f"The parameters are not JSON: {exc}")
        if st.button(
            "Retrain", type="primary", disabled=not (admin and valid), icon=":material/model_training:"
        ):
            with data.shown_failures(stop=False):
                accepted = client.train(pipeline, task, choice.algorithm, params)
                follow(accepted.task_id, pipeline, f"retraining of {task} with {choice.algorithm}")
                st.toast(f"Sent: task {accepted.task_id}")


def outcome(entry: dict, status) -> None:
    """After a run: the new champion, or what blocked it."""
    if status.status == "failed":
        st.error(f"It failed: {status.error or 'see the run in Dagster'}", icon=":material/error:")
    now = next((s for s in data.pipelines() if s.name == entry["pipeline"]), None)
    if now is None:
        return
    for task, version in champions(now).items():
        was = entry["before"].get(task)
        if version != was:
            st.success(
                f"New champion for {task}: v{version} (was {f'v{was}' if was else 'none'}).",
                icon=":material/emoji_events:",
            )
        elif status.status == "succeeded":
            st.info(f"{task} keeps v{version}: no new version passed its gates (see Models).")


followed = st.session_state.get(TASKS, [])
if followed:
    st.divider()
    st.subheader("Tasks")
    running = any(entry["status"] not in FINISHED for entry in followed)

    @st.fragment(run_every=2 if running else None)
    def board() -> None:
        changed = False
        for entry in st.session_state.get(TASKS, []):
            try:
                status = client.task(entry["id"])
            except ApiError as exc:
                st.warning(f"{entry['what']}: status unknown ({exc})")
                continue
            if status.status != entry["status"]:
                changed |= status.status in FINISHED
                entry["status"] = status.status
            state = (
                "complete"
                if status.status == "succeeded"
                else "error"
                if status.status in ("failed", "canceled")
                else "running"
            )
            with st.status(
                f"{entry['what']}: {LABELS[status.status]}", state=state, expanded=status.status in FINISHED
            ):
                st.caption(
                    f"task {status.task_id} · {status.kind} · created {status.created_at:%Y-%m-%d %H:%M:%S} UTC"
                )
                if status.note:
                    st.caption(status.note)
                if status.run_url:
                    st.markdown(f"[Dagster run {status.run_id}]({status.run_url})")
                if status.status in FINISHED:
                    outcome(entry, status)
        if changed:
            st.rerun()  # a finished task: refresh everything keyed on champions and data, stop polling

    board()
