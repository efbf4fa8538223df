"""The analyst app, served by `streamlit run ui/server.py` (`mlops up` starts it). One page per question; every page
talks only to the prediction API (ui/client.py), set by MLOPS_UI_API_URL and an API key."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.client import ApiError
from ui.data import KEY_STATE, api, caller

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Air quality · mlops-platform", page_icon=":material/air:", layout="wide")

navigation = st.navigation(
    [
        st.Page(VIEWS / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(VIEWS / "forecast.py", title="Forecast", icon=":material/show_chart:"),
        st.Page(VIEWS / "models.py", title="Models", icon=":material/leaderboard:"),
        st.Page(VIEWS / "data.py", title="Data quality", icon=":material/table_chart:"),
        st.Page(VIEWS / "upload.py", title="Upload & retrain", icon=":material/upload_file:"),
        st.Page(VIEWS / "table.py", title="Table", icon=":material/table_rows:"),
        st.Page(VIEWS / "feedback.py", title="Feedback", icon=":material/rate_review:"),
    ]
)

with st.sidebar:
    client = api()
    try:
        who = caller()
    except ApiError as exc:
        st.warning(str(exc), icon=":material/key_off:")
    else:
        st.caption(f"API {client.base_url} · key **{who.name}** ({', '.join(who.scopes)})")
    with st.expander("Use another API key"):
        entered = st.text_input("API key", type="password", key="_entered_key", label_visibility="collapsed")
        if st.button("Use this key", disabled=not entered):
            st.session_state[KEY_STATE] = entered.strip()
            st.session_state.pop("_caller", None)
            st.rerun()

try:
    navigation.run()
except Exception as exc:  # noqa: BLE001 - a page's bug must not show a traceback or take the app down
    st.error(
        f"This page failed unexpectedly ({type(exc).__name__}: {exc}). The other pages keep working; "
        "tell the platform team what you did.",
        icon=":material/bug_report:",
    )
