"""`mlops serve`: the prediction API on uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile

import uvicorn

from serving.config import get_serving_settings
from serving.observability import configure_logging
from serving.store import Store


def serve(args: argparse.Namespace) -> int:
    """Run the prediction API (uvicorn). With several workers their metrics are pooled (prometheus-client's
    multiprocess mode, in a directory that lives as long as this command) and the store is prepared
    once, here, before they start."""
    settings = get_serving_settings()
    workers = args.workers or settings.workers
    configure_logging()
    with contextlib.ExitStack() as cleanup:
        if workers > 1:
            Store(settings.db_url()).close()
            if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
                metrics = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="mlops-api-metrics-"))
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
        uvicorn.run(
            "serving.main:create_app",
            factory=True,
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=workers,
            access_log=False,
            log_config=None,
        )
    return 0
