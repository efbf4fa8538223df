"""The app's settings (prefix `MLOPS_UI_`): where the prediction API is and which key to call it with.

The key comes from, in order: the key a person pastes in the sidebar, `api_key` in Streamlit secrets
(`.streamlit/secrets.toml`), `MLOPS_UI_API_KEY`, or the file `MLOPS_UI_API_KEY_FILE` names (`mlops up`
points it at the local dev key)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class UiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLOPS_UI_", extra="ignore")

    api_url: str = Field(
        "http://127.0.0.1:8000", description="The prediction API, as this server reaches it."
    )
    api_key: SecretStr | None = Field(
        None, description="An API key (scope predict; admin for uploads and rollback)."
    )
    api_key_file: Path | None = Field(
        None, description="A file holding the key, e.g. <data dir>/api/dev-key."
    )
    timeout_seconds: float = Field(30.0, description="How long one API request may take.")


def configured_key(settings: UiSettings) -> str | None:
    """The key the app starts with: Streamlit secrets, the environment, or the key file."""
    try:
        secret = st.secrets.get("api_key")
    except FileNotFoundError:  # no secrets file (StreamlitSecretNotFoundError is one)
        secret = None
    if secret:
        return str(secret)
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    if settings.api_key_file is not None and settings.api_key_file.is_file():
        return settings.api_key_file.read_text().strip() or None
    return None
