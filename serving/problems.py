"""RFC 9457 problem details: every error the API returns is `application/problem+json`.

Routes raise `Problem`; FastAPI's own errors (validation, unknown routes, wrong methods) and anything
unexpected are turned into the same shape by the handlers registered in `install`."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}
log = logging.getLogger("mlops.api")


class Problem(Exception):
    """An error for the client: status, a human `detail`, and optional extension members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extensions = extensions


def unavailable(detail: str, retry_after: int, **extensions: Any) -> Problem:
    return Problem(503, detail, headers={"Retry-After": str(retry_after)}, **extensions)


def problem_body(status: int, detail: str, instance: str, title: str | None = None, **ext: Any) -> bytes:
    return orjson.dumps(
        {
            "type": "about:blank",
            "title": title or TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            "instance": instance,
            **ext,
        }
    )


def problem_response(
    status: int, detail: str, instance: str, title: str | None = None, headers: dict | None = None, **ext: Any
) -> Response:
    return Response(
        problem_body(status, detail, instance, title, **ext),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def location(loc: tuple | list) -> str:
    """`("body", "rows", 3, "no2_lag1")` → `rows[3].no2_lag1`."""
    out = ""
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or str(loc[0] if loc else "(request)")


def validation_errors(errors: list[dict]) -> list[dict[str, Any]]:
    return [
        {"location": location(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors[:50]
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(
            exc.status, exc.detail, request.url.path, exc.title, exc.headers, **exc.extensions
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        raw = list(exc.errors())
        if raw and raw[0].get("type") == "json_invalid":
            at = raw[0].get("loc", ("body",))[-1]
            reason = (raw[0].get("ctx") or {}).get("error", "") or raw[0].get("msg", "")
            where = f" (at character {at})" if isinstance(at, int) else ""
            return problem_response(422, f"the body is not valid JSON{where}: {reason}", request.url.path)
        errors = validation_errors(raw)
        first = errors[0] if errors else {"location": "(request)", "message": "invalid"}
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem_response(
            422, f"{first['location']}: {first['message']}{more}", request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        return problem_response(exc.status_code, detail, request.url.path, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "an unexpected error occurred; it has been logged", request.url.path)
