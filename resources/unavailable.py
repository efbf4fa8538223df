"""One way to say "a service the platform needs did not answer", for S3, the MLflow tracking server and
RabbitMQ alike: `ServiceUnavailable`, naming the service and its URL. The API answers 503 on it, sensors
skip a tick, and assets turn it into a `dg.Failure` their RetryPolicy retries (resources/failures.py).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

import botocore.exceptions
import requests
import urllib3


class ServiceUnavailable(RuntimeError):
    """`service` (s3, mlflow, rabbitmq) at `url` could not be reached; the message says which and why."""

    def __init__(self, service: str, url: str, message: str) -> None:
        super().__init__(message)
        self.service = service
        self.url = url


def unreachable(exc: BaseException) -> bool:
    """The endpoint did not answer: refused, reset, timed out, or unavailable after the client's retries
    (anywhere in the exception's chain)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(
            seen,
            ConnectionError
            | TimeoutError
            | botocore.exceptions.ConnectionError
            | botocore.exceptions.HTTPClientError
            | requests.ConnectionError
            | requests.Timeout
            | urllib3.exceptions.HTTPError,
        ):
            return True
        if getattr(seen, "errno", None) in (errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT):
            return True
        text = str(seen)
        if any(
            sign in text
            for sign in (
                "ServiceUnavailable",
                "SlowDown",
                "Max retries exceeded",
                "Connection refused",
                "too many 5",
            )
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@contextlib.contextmanager
def reporting_unavailable(service: str, url: str, what: str) -> Iterator[None]:
    """Connection failures inside the block become `ServiceUnavailable("<what> is unreachable: …")`;
    every other error passes through unchanged."""
    try:
        yield
    except ServiceUnavailable:
        raise
    except Exception as exc:
        if not unreachable(exc):
            raise
        raise ServiceUnavailable(
            service, url, f"{what} is unreachable: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc
