"""Models: every version of a task's model as a leaderboard (holdout figures, skill over the seasonal-naive
baseline, coverage, gates with what they said, data and code version), two versions side by side, and
rolling the champion back (admin key, with a confirmation)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from serving.read_models import ModelVersion
from ui import data
from ui.format import flat_metrics, headline_metrics, when

DONE = "rolled_back"
st.title("Models")
if DONE in st.session_state:
    st.success(st.session_state.pop(DONE), icon=":material/undo:")

with data.shown_failures():
    summaries = data.pipelines()
client = data.api()
left, right = st.columns(2)
pipeline = left.selectbox("Pipeline", [s.name for s in summaries])
summary = next(s for s in summaries if s.name == pipeline)
task = right.selectbox("Task", [t.name for t in summary.tasks])
model = next(t for t in summary.tasks if t.name == task)

with data.shown_failures():
    found = data.versions(
        client, client.base_url, pipeline, task, model.champion_version, model.latest_version
    )
if not found.versions:
    st.info(f"{found.model} has no registered version yet: materialize {pipeline} to train one.")
    st.stop()
if found.gate_messages_error:
    st.caption(f"What the gates said is unavailable ({found.gate_messages_error}); their verdicts are shown.")


def gate_marks(version: ModelVersion) -> str:
    return " ".join(f"{'✓' if g.passed else '✗'} {g.name}" for g in version.gates) or "not evaluated"


board = pd.DataFrame(
    [
        {
            "version": v.version,
            "champion": "★ champion" if v.champion else "",
            "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
            "candidate": v.candidate,
            **flat_metrics(found.kind, v.metrics),
            "gates": gate_marks(v),
            "data version": v.data_version,
            "code version": v.code_version,
            "MLflow": v.mlflow_run_url,
        }
        for v in found.versions
    ]
)
st.subheader(f"{found.model}: {len(found.versions)} version(s)")
st.caption(
    "Holdout figures: the same held-out weeks for every version. Skill is the error saved over the "
    "seasonal-naive forecast (same hour yesterday); coverage is how often the interval held the truth."
)
st.dataframe(
    board,
    hide_index=True,
    width="stretch",
    column_config={"MLflow": st.column_config.LinkColumn("MLflow", display_text="run")},
)

by_version = {v.version: v for v in found.versions}
with st.expander("Gates of each version, with what they said"):
    for version in found.versions:
        st.markdown(f"**Version {version.version}**" + (" (champion)" if version.champion else ""))
        for gate in version.gates:
            icon = ":material/check_circle:" if gate.passed else ":material/cancel:"
            st.markdown(f"{icon} `{gate.name}`: {gate.message or ('passed' if gate.passed else 'failed')}")

st.subheader("Compare two versions")
choices = list(by_version)
a, b = st.columns(2)
first = a.selectbox("Version", choices, index=0, key="compare_a")
second = b.selectbox("against", choices, index=min(1, len(choices) - 1), key="compare_b")
for column, name in ((a, first), (b, second)):
    version = by_version[name]
    with column:
        st.markdown(
            f"**v{version.version}**{' ★ champion' if version.champion else ''} · {version.candidate or ''} "
            f"({version.algorithm or '?'}) · created {when(version.created_at)}"
        )
        st.dataframe(
            pd.DataFrame(headline_metrics(found.kind, version.metrics)), hide_index=True, width="stretch"
        )
        st.caption(f"gates: {gate_marks(version)}")
        st.caption(
            f"params: {version.params or '—'} · data {version.data_version} · code {version.code_version}"
        )

st.subheader("Roll back the champion")
admin = data.is_admin()
champion = found.champion_version
others = [v for v in choices if v != champion]
if not others:
    st.caption("There is no other version to serve.")
else:
    previous = by_version[champion].tags.get("previous_champion") if champion in by_version else None
    default = others.index(previous) if previous in others else 0
    target = st.selectbox(
        f"Serve this version instead of v{champion}",
        others,
        index=default,
        format_func=lambda v: f"v{v} · {gate_marks(by_version[v])}",
        disabled=not admin,
    )
    sure = st.checkbox(
        f"I want every API instance to serve v{target} of {found.model} now",
        disabled=not admin,
        key="confirm_rollback",
    )
    if not admin:
        st.caption("Rolling back needs an API key with the admin scope; this key is read-only.")
    if st.button("Roll back", type="primary", disabled=not (admin and sure), icon=":material/undo:"):
        with data.shown_failures(stop=False):
            result = client.rollback(pipeline, task, target)
            st.session_state[DONE] = (
                f"{result.model}: the champion moved from v{result.previous_version} to v{result.version}"
                + (
                    "."
                    if result.announced
                    else "; the broker is away, so API instances take it at their next refresh."
                )
            )
            st.rerun()  # everything above is keyed on the champion version: it shows the new one
