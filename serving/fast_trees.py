"""Small batches through gradient-boosted trees without scikit-learn's per-tree overhead.

`HistGradientBoosting*.predict` walks its trees one at a time (a Python loop of Cython calls with input
checks around it): about 2.5 ms for one row of this project's models however few rows there are. A
micro-batch of a few rows spends almost all its time there. `TreeEnsemble` packs every tree's nodes into
flat arrays and walks all trees for all rows at once with NumPy, one step per tree level: the same
comparisons (`x <= threshold`, missing values to the side the tree learnt), the same leaf values, the
same baseline and link. It is used only for small batches (large ones are faster in scikit-learn's
parallel Cython) and only after it reproduced scikit-learn's output on the model's warm-up rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

SMALL_BATCH = 48


class TreeEnsemble:
    def __init__(self, model: HistGradientBoostingRegressor | HistGradientBoostingClassifier) -> None:
        if model.n_trees_per_iteration_ != 1:
            raise ValueError("only single-output ensembles (regression, binary classification)")
        trees = [iteration[0].nodes for iteration in model._predictors]
        if any(t["is_categorical"].any() for t in trees):
            raise ValueError("categorical splits are not compiled")
        sizes = np.array([len(t) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, sizes)
        self.roots = offsets.astype(np.intp)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(float)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.is_leaf = nodes["is_leaf"].astype(bool)
        self.left = np.where(self.is_leaf, np.arange(len(nodes)), nodes["left"] + shift).astype(np.intp)
        self.right = np.where(self.is_leaf, np.arange(len(nodes)), nodes["right"] + shift).astype(np.intp)
        self.value = nodes["value"].astype(float)
        self.depth = int(nodes["depth"].max()) if len(nodes) else 0
        self.baseline = float(np.ravel(model._baseline_prediction)[0])
        self.model = model

    def raw(self, x: np.ndarray) -> np.ndarray:
        at = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            values = x[rows, self.feature[at]]
            go_left = np.where(np.isnan(values), self.missing_left[at], values <= self.threshold[at])
            at = np.where(go_left, self.left[at], self.right[at])  # leaves point at themselves
        return self.value[at].sum(axis=1) + self.baseline

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model._loss.link.inverse(self.raw(x))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model._loss.predict_proba(self.raw(x)[:, None])


def compile_pipelines(model: Any) -> dict[int, TreeEnsemble]:
    """A compiled ensemble for each one-step gradient-boosting pipeline the model holds, by `id`."""
    pipelines: list[Pipeline] = [
        *getattr(model, "estimators", {}).values(),
        *getattr(model, "difficulty", {}).values(),
        *([model.estimator] if hasattr(model, "estimator") else []),
    ]
    out = {}
    for pipeline in pipelines:
        steps = pipeline.steps if isinstance(pipeline, Pipeline) else []
        if len(steps) == 1 and isinstance(
            steps[0][1], HistGradientBoostingRegressor | HistGradientBoostingClassifier
        ):
            try:
                out[id(pipeline)] = TreeEnsemble(steps[0][1])
            except ValueError:
                continue
    return out
