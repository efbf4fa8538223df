"""The predict body's two parsers: the typed fast path gives exactly what the validating path gives, and
hands everything it does not take plainly to the validating path (which coerces or names the problem)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from fastapi.exceptions import RequestValidationError

from serving.problems import Problem
from serving.routes.predict import fast_matrix, feature_matrix, parse_body

COLUMNS = ("no2_lag0", "temperature", "horizon")


def slow_matrix(raw: bytes) -> np.ndarray:
    return feature_matrix(parse_body(raw).rows, COLUMNS)


def test_plain_rows_give_the_same_matrix_in_the_models_column_order():
    rows = [
        {"horizon": 3, "no2_lag0": 41.5, "temperature": None},  # keys in any order, ints, null
        {"no2_lag0": 1e300, "temperature": -4.25, "horizon": 24.0},
    ]
    raw = orjson.dumps({"task": "forecast", "rows": rows})
    task, x = fast_matrix(raw, lambda name: COLUMNS)
    assert task == "forecast"
    np.testing.assert_array_equal(x, slow_matrix(raw))
    assert np.isnan(x[0, 1]) and x[0, 2] == 3.0 and x.dtype == float


@pytest.mark.parametrize(
    "body",
    [
        {"rows": [{"no2_lag0": "41.5", "temperature": 1, "horizon": 1}]},  # a string pydantic coerces
        {"rows": [{"no2_lag0": True, "temperature": 1, "horizon": 1}]},  # a boolean pydantic coerces
    ],
)
def test_values_to_coerce_take_the_validating_path_and_get_the_same_answer(body):
    raw = orjson.dumps(body)
    assert fast_matrix(raw, lambda name: COLUMNS) is None
    assert slow_matrix(raw)[0, 0] in (41.5, 1.0)


@pytest.mark.parametrize(
    "raw, error",
    [
        (b'{"rows": [{"no2_lag0": 1, "temperature": 2}]}', Problem),  # missing field: named
        (b'{"rows": [{"no2_lag0": 1, "temperature": 2, "horizon": 1, "x": 0}]}', Problem),  # unknown
        (b'{"rows": [{"no2_lag0": 1e999, "temperature": 2, "horizon": 1}]}', RequestValidationError),
        (b'{"rows": [{"no2_lag0": "high", "temperature": 2, "horizon": 1}]}', RequestValidationError),
        (b'{"rows": []}', RequestValidationError),
        (b'{"rows": {"no2_lag0": 1}}', RequestValidationError),
        (b'{"rows": [], "model": "other"}', RequestValidationError),
        (b'{"task": 7, "rows": [{"no2_lag0": 1, "temperature": 2, "horizon": 1}]}', RequestValidationError),
        (b'{"rows": [{"no2_lag0": 1, ', RequestValidationError),
    ],
)
def test_anything_else_is_left_to_the_validating_path_which_names_the_problem(raw, error):
    assert fast_matrix(raw, lambda name: COLUMNS) is None
    with pytest.raises(error) as caught:
        slow_matrix(raw)
    if error is Problem:
        assert "rows[0]" in caught.value.detail


def test_prediction_ids_are_unique_in_time_order_and_fit_the_feedback_schema():
    import os
    import re
    import time

    from serving.routes.predict import new_prediction_id
    from serving.schemas import FeedbackRequest

    first = [new_prediction_id() for _ in range(5000)]
    time.sleep(0.002)
    later = new_prediction_id()
    assert len(set(first)) == len(first)
    # the time prefix never goes back
    assert all(a[:13] <= b[:13] for a, b in zip(first, first[1:], strict=False))
    assert later[:13] > first[0][:13]
    assert all(re.fullmatch(r"p_[0-9a-f]{20}", i) for i in first)
    FeedbackRequest.model_validate({"prediction_id": f"{later}.0", "target": "no2", "observed": 1.0})

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked worker starts its own id space
        os.write(write, new_prediction_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child[13:18] != later[13:18]
