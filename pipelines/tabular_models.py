"""Tabular models: the split, one scikit-learn pipeline per candidate (preprocessing + estimator, so the
model takes raw column values), recalibration, conformal prediction sets or intervals, and `TabularModel`,
the MLflow pyfunc that evaluation and the API both call.

The calibration split is halved: the first half fits the recalibration, the second decides whether it
helps and calibrates the conformal sets, so neither is judged on the rows it learnt from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from pydantic import ValidationError
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from pipelines.spec import SearchSpec, TabularCandidate, TabularSpec, TabularTask

SPLITS = ("train", "calibration", "holdout")
MISSING_CATEGORY = "(missing)"

_ESTIMATORS = {
    ("logistic_regression", "classification"): LogisticRegression,
    ("linear_regression", "regression"): LinearRegression,
    ("ridge", "regression"): Ridge,
    ("hist_gradient_boosting", "classification"): HistGradientBoostingClassifier,
    ("hist_gradient_boosting", "regression"): HistGradientBoostingRegressor,
    ("random_forest", "classification"): RandomForestClassifier,
    ("random_forest", "regression"): RandomForestRegressor,
}
_LINEAR = {"logistic_regression", "linear_regression", "ridge"}


# --- the split ---------------------------------------------------------------------------------------


def split_rows(frame: pd.DataFrame, spec: TabularSpec, task: TabularTask) -> pd.DataFrame:
    """The rows with a `split` column: by the spec's time column (oldest train, newest holdout), else
    random with the spec's seed, stratified by class for classification."""
    n = len(frame)
    cal_n = int(round(n * spec.split.calibration_fraction))
    hold_n = int(round(n * spec.split.holdout_fraction))
    split = np.full(n, "train", dtype=object)
    if spec.time_column:
        order = np.argsort(frame[spec.time_column].to_numpy(), kind="stable")
        split[order[n - hold_n :]] = "holdout"
        split[order[n - hold_n - cal_n : n - hold_n]] = "calibration"
    else:
        index = np.arange(n)
        y = frame[task.target].astype(str).to_numpy()
        stratify = y if task.kind == "classification" and pd.Series(y).value_counts().min() >= 3 else None
        rest, holdout = train_test_split(
            index, test_size=hold_n, random_state=spec.split.seed, stratify=stratify
        )
        train, calib = train_test_split(
            rest,
            test_size=cal_n,
            random_state=spec.split.seed,
            stratify=None if stratify is None else y[rest],
        )
        split[holdout], split[calib] = "holdout", "calibration"
    return frame.assign(split=split)


# --- preprocessing inside the model ----------------------------------------------------------------------


def as_float(x: pd.DataFrame) -> np.ndarray:
    """Numeric and boolean columns as floats, missing as NaN."""
    return pd.DataFrame(x).apply(pd.to_numeric, errors="coerce").astype(float).to_numpy()


def as_days(x: pd.DataFrame) -> np.ndarray:
    """Datetime columns as days since 1970, missing as NaN."""
    frame = pd.DataFrame(x)
    cols = [pd.to_datetime(frame[c], errors="coerce") for c in frame.columns]
    return np.column_stack(
        [((c - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).astype(float).to_numpy() for c in cols]
    )


def as_text(x: pd.DataFrame) -> np.ndarray:
    """Categorical columns as text, missing as one category of its own."""
    frame = pd.DataFrame(x).astype(object)
    return frame.where(frame.notna(), MISSING_CATEGORY).astype(str).to_numpy()


def preprocessor(spec: TabularSpec, task: TabularTask, algorithm: str) -> tuple[ColumnTransformer, int]:
    """Imputation, encoding (one-hot; ordinal for gradient boosting, which splits categories natively) and
    scaling for linear models. Returns the transformer and how many leading outputs are categorical."""
    columns = spec.input_columns(task)
    linear = algorithm in _LINEAR
    categorical = [c.name for c in columns if c.type == "categorical"]
    numeric = [c.name for c in columns if c.type in ("numeric", "boolean")]
    dates = [c.name for c in columns if c.type == "datetime"]
    scale = [StandardScaler()] if linear else []
    if algorithm == "hist_gradient_boosting":
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=float)
    else:
        encoder = OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False)
    parts = []
    if categorical:
        parts.append(("categorical", make_pipeline(FunctionTransformer(as_text), encoder), categorical))
    if numeric:
        parts.append(
            (
                "numeric",
                make_pipeline(
                    FunctionTransformer(as_float),
                    SimpleImputer(strategy="median", keep_empty_features=True),
                    *scale,
                ),
                numeric,
            )
        )
    if dates:
        parts.append(
            (
                "datetime",
                make_pipeline(
                    FunctionTransformer(as_days),
                    SimpleImputer(strategy="median", keep_empty_features=True),
                    *scale,
                ),
                dates,
            )
        )
    return ColumnTransformer(parts, verbose_feature_names_out=False), len(categorical)


def build_pipeline(
    spec: TabularSpec,
    task: TabularTask,
    candidate: TabularCandidate,
    params: dict[str, Any] | None = None,
    seed: int = 0,
) -> Pipeline:
    """One candidate as a single scikit-learn pipeline from raw columns to predictions."""
    try:
        cls = _ESTIMATORS[(candidate.algorithm, task.kind)]
    except KeyError:
        raise ValueError(
            f"candidate '{candidate.name}': algorithm '{candidate.algorithm}' cannot do {task.kind}"
        ) from None
    params = dict(candidate.params if params is None else params)
    if "random_state" in cls().get_params():
        params.setdefault("random_state", seed)
    prep, n_categorical = preprocessor(spec, task, candidate.algorithm)
    if candidate.algorithm == "hist_gradient_boosting" and n_categorical:
        params.setdefault("categorical_features", list(range(n_categorical)))
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ValueError(f"candidate '{candidate.name}': invalid parameters {params}: {exc}") from None
    return Pipeline([("preprocess", prep), ("model", estimator)])


# --- conformal sets and calibration error ----------------------------------------------------------------


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The finite-sample-valid quantile of nonconformity scores: the ceil((n+1)·level)-th smallest."""
    s = np.sort(np.asarray(scores, dtype=float))
    if len(s) == 0:
        raise ValueError("no calibration rows for the conformal quantile")
    return float(s[min(len(s), math.ceil((len(s) + 1) * level)) - 1])


def prediction_sets(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean (rows × classes): the classes whose score 1 - p is within the conformal quantile; the most
    likely class is always in, so no set is empty."""
    inside = (1 - proba) <= threshold
    inside[np.arange(len(proba)), proba.argmax(axis=1)] = True
    return inside


def calibration_error(y_index: np.ndarray, proba: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: of the positive class for two classes, of the top class otherwise;
    mean |observed rate − mean predicted probability| over equal-width bins, weighted by bin size."""
    if len(y_index) == 0:
        return float("nan")
    if proba.shape[1] == 2:
        p, hit = proba[:, 1], (y_index == 1).astype(float)
    else:
        p, hit = proba.max(axis=1), (proba.argmax(axis=1) == y_index).astype(float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = sum(
        abs(hit[which == b].mean() - p[which == b].mean()) * (which == b).sum()
        for b in range(bins)
        if (which == b).any()
    )
    return float(total / len(p))


# --- the served model -------------------------------------------------------------------------------------


class TabularModel(mlflow.pyfunc.PythonModel):
    """Raw rows in; for classification `label`, its `probability`, the conformal `prediction_set` and
    `p_<class>` per class; for regression `prediction` with `lower`/`upper` at the task's level."""

    def __init__(
        self,
        estimator: Any,
        kind: str,
        input_columns: list[str],
        classes: list[str],
        level: float,
        quantile: float,
    ) -> None:
        self.estimator = estimator
        self.kind = kind
        self.input_columns = input_columns
        self.classes = classes
        self.level = level
        self.quantile = quantile

    @property
    def feature_columns(self) -> list[str]:
        return self.input_columns

    def probabilities(self, inputs: pd.DataFrame) -> np.ndarray:
        """Rows × classes, in `classes` order."""
        return self.estimator.predict_proba(inputs[self.input_columns])

    def predict_frame(self, inputs: pd.DataFrame) -> pd.DataFrame:
        x = inputs[self.input_columns]
        if self.kind == "regression":
            point = self.estimator.predict(x)
            return pd.DataFrame(
                {"prediction": point, "lower": point - self.quantile, "upper": point + self.quantile},
                index=inputs.index,
            )
        proba = self.probabilities(inputs)
        top = proba.argmax(axis=1)
        sets = prediction_sets(proba, self.quantile)
        classes = np.array(self.classes, dtype=object)
        out = pd.DataFrame(
            {
                "label": classes[top],
                "probability": proba[np.arange(len(proba)), top],
                "prediction_set": [list(classes[row]) for row in sets],
            },
            index=inputs.index,
        )
        for i, name in enumerate(self.classes):
            out[f"p_{name}"] = proba[:, i]
        return out

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.predict_frame(model_input)


# --- training ---------------------------------------------------------------------------------------------


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    score: float


@dataclass
class TabularReport:
    """What training decided: the chosen candidate, every candidate's calibration score, recalibration
    figures and, for searched candidates, every trial."""

    chosen: str
    scores: dict[str, float]
    params: dict[str, Any]
    details: dict[str, float] = field(default_factory=dict)
    trials: dict[str, list[Trial]] = field(default_factory=dict)


def target_index(values: pd.Series, classes: list[str]) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    return values.astype(str).map(lookup).to_numpy(dtype=int)


def class_names(spec: TabularSpec, task: TabularTask, train: pd.Series) -> list[str]:
    """The classes in a fixed order: the spec's allowed values, else the sorted labels seen in train."""
    column = spec.column(task.target)
    if column.type == "boolean":
        return ["False", "True"]
    return list(column.allowed) if column.allowed else sorted(train.astype(str).unique())


def candidate_score(task: TabularTask, y: np.ndarray | pd.Series, predicted: np.ndarray) -> float:
    """The promotion metric (lower is better) of probabilities (classification) or values (regression)."""
    from pipelines.tabular_evaluation import metric_value

    return metric_value(task.promotion.metric, y, predicted)


def _fit_and_score(spec, task, candidate, params, x, y, cal_x, cal_y, classes) -> tuple[Pipeline, float]:
    pipeline = build_pipeline(spec, task, candidate, params).fit(x, y)
    if task.kind == "classification":
        proba = aligned_proba(pipeline, cal_x, len(classes))
        return pipeline, candidate_score(task, cal_y, proba)
    return pipeline, candidate_score(task, cal_y, pipeline.predict(cal_x))


def aligned_proba(estimator: Any, x: pd.DataFrame, n_classes: int) -> np.ndarray:
    """Probabilities over every class index, also when train lacked one."""
    proba = estimator.predict_proba(x)
    out = np.zeros((len(x), n_classes))
    out[:, np.asarray(estimator.classes_, dtype=int)] = proba
    return out


def train_tabular_model(
    training_set: pd.DataFrame,
    spec: TabularSpec,
    task: TabularTask,
    candidates: list[TabularCandidate] | None = None,
) -> tuple[TabularModel, TabularReport]:
    """Fit every candidate on train (searching its space within its budget when it declares one), keep
    the best promotion metric on the first half of calibration, recalibrate probabilities on that half when
    the second half says it lowers the calibration error, then calibrate conformal sets or intervals on
    the second half."""
    from pipelines.tabular_search import search_candidate

    inputs = [c.name for c in spec.input_columns(task)]
    parts = {s: training_set[training_set["split"] == s] for s in SPLITS}
    if parts["train"].empty or len(parts["calibration"]) < 20:
        raise ValueError("the train split is empty or calibration has fewer than 20 rows")
    classification = task.kind == "classification"
    classes = class_names(spec, task, parts["train"][task.target]) if classification else []

    def labels(frame: pd.DataFrame) -> np.ndarray:
        return (
            target_index(frame[task.target], classes)
            if classification
            else frame[task.target].to_numpy(dtype=float)
        )

    x, y = parts["train"][inputs], labels(parts["train"])
    if classification and len(np.unique(y)) < 2:
        raise ValueError(f"task '{task.name}': the train split has one class only")
    calib = parts["calibration"]
    half = len(calib) // 2
    cal_a, cal_b = calib.iloc[:half], calib.iloc[half:]
    cal_x, cal_y = cal_a[inputs], labels(cal_a)

    best: tuple[float, str, Pipeline, dict] | None = None
    scores, trials, chosen_params = {}, {}, {}
    for candidate in candidates or task.candidates:
        params = dict(candidate.params)
        if candidate.search is not None:
            params, trials[candidate.name] = search_candidate(
                lambda p, c=candidate: _fit_and_score(spec, task, c, p, x, y, cal_x, cal_y, classes)[1],
                candidate,
            )
        fitted, scores[candidate.name] = _fit_and_score(
            spec, task, candidate, params, x, y, cal_x, cal_y, classes
        )
        chosen_params[candidate.name] = params
        if best is None or scores[candidate.name] < best[0]:
            best = (scores[candidate.name], candidate.name, fitted, params)
    assert best is not None
    _, chosen, estimator, params = best
    details: dict[str, float] = {}
    b_x, b_y = cal_b[inputs], labels(cal_b)
    if classification:
        before = calibration_error(b_y, aligned_proba(estimator, b_x, len(classes)))
        details["calibration_ece_before"] = before
        if len(np.unique(cal_y)) == len(np.unique(y)):
            recalibrated = CalibratedClassifierCV(
                FrozenEstimator(estimator), method="sigmoid" if len(cal_a) < 1000 else "isotonic"
            ).fit(cal_x, cal_y)
            after = calibration_error(b_y, aligned_proba(recalibrated, b_x, len(classes)))
            details["calibration_ece_after"] = after
            if after < before:
                estimator = recalibrated
        details["recalibrated"] = float(isinstance(estimator, CalibratedClassifierCV))
        proba = aligned_proba(estimator, b_x, len(classes))
        quantile = conformal_quantile(1 - proba[np.arange(len(b_y)), b_y], task.level)
    else:
        quantile = conformal_quantile(np.abs(b_y - estimator.predict(b_x)), task.level)
    details["conformal_quantile"] = quantile
    model = TabularModel(
        ClassIndexed(estimator, len(classes)) if classification else estimator,
        task.kind,
        inputs,
        classes,
        task.level,
        quantile,
    )
    return model, TabularReport(chosen=chosen, scores=scores, params=params, details=details, trials=trials)


class ClassIndexed:
    """A fitted classifier whose `predict_proba` has a column for every class, in the spec's order."""

    def __init__(self, estimator: Any, n_classes: int) -> None:
        self.estimator = estimator
        self.n_classes = n_classes

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return aligned_proba(self.estimator, x, self.n_classes)


def baseline_model(training_set: pd.DataFrame, spec: TabularSpec, task: TabularTask) -> Any:
    """The no-skill model: prior class probabilities (majority class) or the mean, learnt from train."""
    train = training_set[training_set["split"] == "train"]
    if task.kind == "regression":
        return DummyRegressor(strategy="mean").fit(
            np.zeros((len(train), 1)), train[task.target].astype(float)
        )
    classes = class_names(spec, task, train[task.target])
    return DummyClassifier(strategy="prior").fit(
        np.zeros((len(train), 1)), target_index(train[task.target], classes)
    )


def requested_tabular_candidate(
    spec: TabularSpec,
    task: TabularTask,
    algorithm: str | None,
    params: dict[str, Any],
    search: dict[str, Any] | None = None,
) -> TabularCandidate | None:
    """The candidate a training request asks for (the spec's parameters overridden by `params`, searched
    over `search` when given, else as the spec declares it), or None for the spec's candidates; ValueError
    says why it cannot be trained, before any run starts."""
    if algorithm is None:
        if params or search:
            raise ValueError("params or a search were given without an algorithm")
        return None
    allowed = {c.algorithm: c for c in task.candidates}
    if algorithm not in allowed:
        raise ValueError(
            f"algorithm {algorithm!r} is not a candidate of {spec.name}.{task.name}; allowed: {sorted(allowed)}"
        )
    base = allowed[algorithm]
    try:
        searched = SearchSpec.model_validate(search) if search else base.search
    except ValidationError as exc:
        raise ValueError(f"invalid search: {exc.errors(include_url=False)[0]['msg']}") from None
    candidate = base.model_copy(
        update={"name": f"{base.name}_requested", "params": {**base.params, **params}, "search": searched}
    )
    try:
        build_pipeline(spec, task, candidate)[-1]._validate_params()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid params for {algorithm}: {exc}") from None
    return candidate
