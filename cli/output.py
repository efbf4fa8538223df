"""Quiet by default: what libraries print that a person running a command does not need.

Without -v: no Python warnings (Dagster's deprecation, supersession, beta and preview notices, pandas' and
scikit-learn's future warnings), no MLflow artifact-download bars, and while a run executes nothing that
libraries write to stderr (MLflow prints "Successfully registered model …" and "Created version …" there
directly, past `logging`, and re-enables its own switch for them); the run's story is told by the progress
view from Dagster's events. With -v everything shows, Dagster's own run log included.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Iterator


def configure(verbose: bool) -> None:
    """Before a command runs: the settings that need no library imported yet."""
    if verbose:
        return
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)  # also Dagster's SupersessionWarning
    warnings.filterwarnings("ignore", message=r".* is currently in (beta|preview)")  # Dagster's Beta/Preview


@contextlib.contextmanager
def library_stderr(verbose: bool) -> Iterator[io.StringIO]:
    """Within the block, stderr is kept in the yielded buffer instead of shown (unless verbose)."""
    kept = io.StringIO()
    if verbose:
        yield kept
        return
    with contextlib.redirect_stderr(kept):
        yield kept
