"""The analyst app's server: `streamlit run ui/server.py` serves ui/app.py, and imports what the pages
need (pandas, Altair, the API's models) before it accepts the first connection, so the first visitor after
a start does not wait for them."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator
from pathlib import Path

import streamlit as st

# What the pages import; pandas, pyarrow, Altair, httpx and the API's models come with these.
PRELOADED = ("ui.charts", "ui.data", "ui.format")


@contextlib.asynccontextmanager
async def preloaded(_app: st.App) -> AsyncIterator[None]:
    for module in PRELOADED:
        importlib.import_module(module)
    yield


app = st.App(Path(__file__).with_name("app.py"), lifespan=preloaded)
