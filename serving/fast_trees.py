"""Small batches through gradient-boosted trees without scikit-learn's per-tree overhead.

`HistGradientBoosting*.predict` walks its trees one at a time (a Python loop of Cython calls with input
checks around it), a fixed cost however few rows there are, and a forecast model holds four ensembles (a
point and a difficulty model per target). A micro-batch of a few rows spends almost all its time there. `CompiledTrees` packs every tree of every ensemble of a model into
flat arrays and walks them all, for all rows, at once with NumPy, one step per tree level: the same
comparisons (`x <= threshold`, missing values to the side the tree learnt), the same leaf values, the
same baselines and links. One walk for the whole model keeps the NumPy calls per batch to a few per tree
level. It is used only for small batches (large ones are faster in scikit-learn's parallel Cython) and
only after it reproduced scikit-learn's output on the model's warm-up rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

SMALL_BATCH = 48

Booster = HistGradientBoostingRegressor | HistGradientBoostingClassifier


class CompiledTrees:
    """Every tree of the given ensembles (keyed by the caller), walked in one pass. Only single-output
    ensembles without categorical splits (what `compile_pipelines` picks)."""

    def __init__(self, ensembles: dict[int, Booster]) -> None:
        trees, self.column, self.models, baselines, ensemble = [], {}, {}, [], []
        for key, model in ensembles.items():
            nodes = [iteration[0].nodes for iteration in model._predictors]
            self.column[key], self.models[key] = len(baselines), model
            ensemble.extend([len(baselines)] * len(nodes))
            trees.extend(nodes)
            baselines.append(float(np.ravel(model._baseline_prediction)[0]))
        # Deepest trees first: the trees still walking at level d are then a prefix, a view to slice.
        depths = np.array([int(t["depth"].max()) for t in trees])
        order = np.argsort(-depths, kind="stable")
        trees = [trees[i] for i in order]
        self.walking = [int((depths > d).sum()) for d in range(int(depths.max()) if len(trees) else 0)]
        self.ensemble_of_tree = np.zeros((len(trees), len(baselines)))  # one-hot: a tree's ensemble
        self.ensemble_of_tree[np.arange(len(trees)), np.array(ensemble)[order]] = 1.0
        sizes = np.array([len(t) for t in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, sizes)
        leaf = nodes["is_leaf"].astype(bool)
        own = np.arange(len(nodes))
        self.roots = offsets.astype(np.intp)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(float)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.left = np.where(leaf, own, nodes["left"] + shift).astype(np.intp)  # leaves point at themselves
        self.right = np.where(leaf, own, nodes["right"] + shift).astype(np.intp)
        self.value = nodes["value"].astype(float)
        self.baselines = np.array(baselines)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Raw scores, one column per ensemble (in `column` order), for rows `x`."""
        at = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        flat = np.ascontiguousarray(x).ravel()
        row_start = (np.arange(len(x)) * x.shape[1])[:, None]
        for k in self.walking:  # level d: only the trees deeper than d walk on
            node = at[:, :k]
            values = flat.take(self.feature.take(node) + row_start)
            go_left = values <= self.threshold.take(node)
            missing = np.isnan(values)
            if missing.any():
                go_left = np.where(missing, self.missing_left.take(node), go_left)
            at[:, :k] = np.where(go_left, self.left.take(node), self.right.take(node))
        return self.value.take(at) @ self.ensemble_of_tree + self.baselines

    def predict(self, key: int, raw: np.ndarray) -> np.ndarray:
        """What the ensemble `key`'s `predict` gives, from the scores `raw(x)` returned."""
        return self.models[key]._loss.link.inverse(raw[:, self.column[key]])

    def predict_proba(self, key: int, raw: np.ndarray) -> np.ndarray:
        return self.models[key]._loss.predict_proba(raw[:, self.column[key]][:, None])


def compile_pipelines(model: Any) -> CompiledTrees | None:
    """The one-step gradient-boosting pipelines a model holds, compiled together and keyed by `id`."""
    pipelines: list[Pipeline] = [
        *getattr(model, "estimators", {}).values(),
        *getattr(model, "difficulty", {}).values(),
        *([model.estimator] if hasattr(model, "estimator") else []),
    ]
    ensembles = {}
    for pipeline in pipelines:
        steps = pipeline.steps if isinstance(pipeline, Pipeline) else []
        booster = steps[0][1] if len(steps) == 1 else None
        if (
            isinstance(booster, Booster)
            and booster.n_trees_per_iteration_ == 1  # regression, binary classification
            and not any(i[0].nodes["is_categorical"].any() for i in booster._predictors)
        ):
            ensembles[id(pipeline)] = booster
    return CompiledTrees(ensembles) if ensembles else None
