"""The batched permutation importance agrees with scikit-learn's (same scores, same estimator)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.inspection import permutation_importance as sklearn_importance
from sklearn.linear_model import LinearRegression, LogisticRegression

from pipelines.evaluation import permutation_importance

COLUMNS = ["strong", "weak", "noise"]


@pytest.fixture
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(2000, 3)), columns=COLUMNS)
    frame["y"] = 3 * frame["strong"] + 0.5 * frame["weak"] + rng.normal(scale=0.5, size=len(frame))
    frame["event"] = (frame["y"] > 1).astype(int)
    return frame


def test_regression_importance_is_the_drop_in_r2_sklearn_measures(rows: pd.DataFrame) -> None:
    model = LinearRegression().fit(rows[COLUMNS], rows["y"])

    ours = permutation_importance(model, rows, rows["y"], COLUMNS, n_repeats=20)
    theirs = sklearn_importance(model, rows[COLUMNS], rows["y"], n_repeats=20, random_state=0, scoring="r2")

    assert ours["strong"] > ours["weak"] > 10 * abs(ours["noise"])
    np.testing.assert_allclose(ours.to_numpy(), theirs.importances_mean, rtol=0.1, atol=0.005)


def test_classifier_importance_is_the_rise_in_brier_score(rows: pd.DataFrame) -> None:
    model = LogisticRegression().fit(rows[COLUMNS], rows["event"])

    ours = permutation_importance(model, rows, rows["event"], COLUMNS, n_repeats=20)
    theirs = sklearn_importance(
        model, rows[COLUMNS], rows["event"], n_repeats=20, random_state=0, scoring="neg_brier_score"
    )

    assert ours["strong"] > ours["weak"] > 10 * abs(ours["noise"])
    np.testing.assert_allclose(ours.to_numpy(), theirs.importances_mean, rtol=0.1, atol=0.005)
