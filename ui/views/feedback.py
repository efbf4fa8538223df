"""Feedback: the observed value for a prediction, by its id (every forecast point and prediction has one),
stored by the API and announced so the next training can learn from it; the API's answer is shown."""

from __future__ import annotations

import streamlit as st

from ui import data

ANSWERS = "feedback_answers"

st.title("Feedback")
st.caption(
    "Report what was actually measured for a prediction: the Forecast page shows each point's id (and records "
    "an hour that has passed directly); API clients get ids from `POST …/predict`."
)
client = data.api()
with data.shown_failures(stop=False):  # say at once if the API cannot take feedback now
    data.caller()

with st.form("feedback"):
    prediction_id = st.text_input("Prediction id", placeholder="p_0123456789abcdef0123.4").strip()
    target = st.text_input(
        "Target", placeholder="no2, co, or probability (leave empty if the prediction has one output)"
    ).strip()
    observed = st.number_input("Observed value", value=0.0, format="%.3f", help="For an exceedance: 1 or 0.")
    sent = st.form_submit_button("Record", type="primary", icon=":material/send:")

if sent:
    if not prediction_id:
        st.error("Enter the prediction id the API gave (it starts with `p_`).")
    else:
        with data.shown_failures(stop=False):
            answer = client.feedback(prediction_id, observed, target or None)
            st.session_state.setdefault(ANSWERS, []).insert(0, answer.model_dump())
            st.success(
                f"Recorded: {answer.target} observed {answer.observed:g}, predicted "
                f"{answer.predicted if answer.predicted is None else f'{answer.predicted:.2f}'} by model "
                f"v{answer.model_version}. "
                + (
                    "Announced as feedback.recorded."
                    if answer.published
                    else "Stored; it is announced once the event broker is back."
                ),
                icon=":material/check:",
            )

if st.session_state.get(ANSWERS):
    st.subheader("Recorded in this session")
    st.dataframe(st.session_state[ANSWERS], hide_index=True, width="stretch")
