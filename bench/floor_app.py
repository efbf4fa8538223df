"""The floor for bench/serving_vs_mlflow.py: a bare FastAPI endpoint that parses a JSON body and returns a
constant, on uvicorn as `mlops serve` runs the API (same workers, no access log, no log config). Whatever
the prediction API costs beyond this is its own.

    .venv/bin/python bench/floor_app.py --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()
ANSWER = {"status": "ok"}


@app.post("/predict")
async def predict(body: dict[str, Any]) -> dict[str, str]:
    return ANSWER


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        "floor_app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
    )
