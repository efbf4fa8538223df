"""Where the plain clients' errors become Dagster failures: the boundary every asset body and the lake's
IO manager run inside.

- `ServiceUnavailable` (S3, MLflow, RabbitMQ did not answer) → a `dg.Failure` whose message names the
  service and its URL; the step's RetryPolicy retries it.
- `PromotionRefused` (e.g. a version whose files do not download) → a `dg.Failure` that is not retried:
  trying again gives the same answer.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import dagster as dg

from resources.mlflow_registry import PromotionRefused
from resources.unavailable import ServiceUnavailable

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def as_dagster_failure() -> Iterator[None]:
    try:
        yield
    except ServiceUnavailable as exc:
        raise dg.Failure(description=str(exc), metadata={"service": exc.service, "url": exc.url}) from exc
    except PromotionRefused as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc


def failing_as_dagster(fn: F) -> F:
    """`fn` (an asset's body, a plain function or a generator) run inside `as_dagster_failure`."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            with as_dagster_failure():
                yield from fn(*args, **kwargs)

        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def function(*args: Any, **kwargs: Any) -> Any:
        with as_dagster_failure():
            return fn(*args, **kwargs)

    return function  # type: ignore[return-value]
