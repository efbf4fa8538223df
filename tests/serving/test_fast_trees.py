"""The compiled tree walk gives scikit-learn's numbers, for every ensemble of a model at once."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from serving.fast_trees import compile_pipelines

COLUMNS = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(3000, len(COLUMNS))), columns=COLUMNS)
    x[x > 1.6] = np.nan  # missing values in training: the trees learn a side for them
    y = np.nan_to_num(x["f0"]) * 3 + np.sin(np.nan_to_num(x["f1"]) * 2) + rng.normal(0, 0.1, len(x))

    def boosted(estimator, target=y):
        return Pipeline([("model", estimator)]).fit(x, target)

    return SimpleNamespace(
        estimators={"y": boosted(HistGradientBoostingRegressor(max_iter=80, max_leaf_nodes=63))},
        difficulty={
            "y": boosted(HistGradientBoostingRegressor(max_iter=20, loss="poisson", max_depth=3), abs(y))
        },
        estimator=boosted(HistGradientBoostingClassifier(max_iter=40), y > 1),
    )


@pytest.mark.parametrize("rows", [1, 2, 7, 48])
def test_compiled_walk_matches_scikit_learn(model, rows):
    compiled = compile_pipelines(model)
    assert compiled is not None and len(compiled.column) == 3
    rng = np.random.default_rng(rows)
    x = rng.normal(0, 1.5, size=(rows, len(COLUMNS)))
    x[rng.random(x.shape) < 0.15] = np.nan
    splits = np.flatnonzero(compiled.left != np.arange(len(compiled.left)))  # values right on a threshold
    for row, node in zip(range(rows), rng.choice(splits, rows), strict=False):
        x[row, compiled.feature[node]] = compiled.threshold[node]
    frame = pd.DataFrame(x, columns=COLUMNS)
    raw = compiled.raw(x)
    assert raw.shape == (rows, 3)
    for pipeline in (model.estimators["y"], model.difficulty["y"]):
        np.testing.assert_allclose(compiled.predict(id(pipeline), raw), pipeline.predict(frame), rtol=1e-9)
    np.testing.assert_allclose(
        compiled.predict_proba(id(model.estimator), raw), model.estimator.predict_proba(frame), rtol=1e-9
    )


def test_models_without_boosted_trees_are_not_compiled():
    x, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    linear = SimpleNamespace(estimators={"y": Pipeline([("model", LinearRegression())]).fit(x, y)})
    assert compile_pipelines(linear) is None
