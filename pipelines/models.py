"""Model candidates, training and the MLflow pyfunc models that serving loads.

`ForecastModel` and `ExceedanceModel` are plain objects wrapping fitted scikit-learn pipelines; they are
logged as MLflow pyfunc models (cloudpickle, so every estimator type round-trips without a trust list) and
their `predict_frame` is the one prediction path for evaluation, forecasts and the API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.features import model_feature_columns
from pipelines.intervals import halfwidths_by_horizon, lookup_halfwidths
from pipelines.spec import (
    ClassificationTask,
    ModelCandidate,
    PipelineSpec,
    RegressionTask,
    TabularCandidate,
    TabularSpec,
)
from pipelines.training_set import baseline_column, exceedance_label_column, label_column

_ESTIMATORS = {
    ("hist_gradient_boosting", "regression"): (HistGradientBoostingRegressor, False),
    ("hist_gradient_boosting", "classification"): (HistGradientBoostingClassifier, False),
    ("random_forest", "regression"): (RandomForestRegressor, False),
    ("random_forest", "classification"): (RandomForestClassifier, False),
    ("ridge", "regression"): (Ridge, True),
    ("logistic_regression", "classification"): (LogisticRegression, True),
}


def median_or_zero(values: np.ndarray) -> float:
    """A column's median for the linear candidates' imputer (0 for a column with no values, as
    `keep_empty_features` gives). The same statistics as `SimpleImputer(strategy="median")`, which takes
    the much slower median of a masked array instead of `np.median` of each column's present values."""
    return float(np.median(values)) if len(values) else 0.0


def build_estimator(candidate: ModelCandidate, kind: str, seed: int = 0) -> Pipeline:
    """A scikit-learn pipeline for one candidate; linear models get imputation and scaling first."""
    try:
        cls, linear = _ESTIMATORS[(candidate.algorithm, kind)]
    except KeyError:
        raise ValueError(
            f"candidate '{candidate.name}': algorithm '{candidate.algorithm}' cannot do {kind}"
        ) from None
    params = dict(candidate.params)
    if "random_state" in cls().get_params():
        params.setdefault("random_state", seed)
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ValueError(f"candidate '{candidate.name}': invalid parameters {params}: {exc}") from None
    if linear:
        return make_pipeline(
            SimpleImputer(strategy=median_or_zero, keep_empty_features=True), StandardScaler(), estimator
        )
    return make_pipeline(estimator)


def requested_candidate(
    spec: PipelineSpec,
    task: RegressionTask | ClassificationTask,
    algorithm: str | None,
    params: dict[str, Any],
    search: dict[str, Any] | None = None,
) -> ModelCandidate | TabularCandidate | None:
    """The candidate a training request asks for (the spec's parameters overridden by `params`), or None
    for "let the spec's candidates compete". A ValueError says why the request cannot be trained; the
    sensor, the model asset and the API all check requests here, before any run starts."""
    if isinstance(spec, TabularSpec):
        from pipelines.tabular_models import requested_tabular_candidate

        return requested_tabular_candidate(spec, task, algorithm, params, search)
    if search:
        raise ValueError("hyper-parameter search is for tabular pipelines")
    if algorithm is None:
        if params:
            raise ValueError("params were given without an algorithm")
        return None
    allowed = {c.algorithm: c for c in task.candidates}
    if algorithm not in allowed:
        raise ValueError(
            f"algorithm {algorithm!r} is not a candidate of {spec.name}.{task.name}; allowed: {sorted(allowed)}"
        )
    base = allowed[algorithm]
    candidate = ModelCandidate(
        name=f"{base.name}_requested", algorithm=base.algorithm, params={**base.params, **params}
    )
    kind = "classification" if isinstance(task, ClassificationTask) else "regression"
    try:
        # scikit-learn checks parameter types and ranges only at fit; check them now, not mid-run.
        build_estimator(candidate, kind)[-1]._validate_params()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid params for {algorithm}: {exc}") from None
    return candidate


def fit_difficulty_model(x: pd.DataFrame, abs_residuals: np.ndarray) -> Pipeline:
    """Learns how hard a row is to predict (its log absolute residual), so that intervals widen where
    the noise is larger: in winter, at rush hour, at polluted stations."""
    floor = max(float(np.median(abs_residuals)) * 0.05, 1e-6)
    model = make_pipeline(
        HistGradientBoostingRegressor(max_iter=60, max_leaf_nodes=15, min_samples_leaf=100, random_state=0)
    )
    return model.fit(x, np.log(abs_residuals + floor))


def _predict(estimator: Pipeline, x: Any) -> np.ndarray:
    return estimator.predict(x)


def _predict_proba(estimator: Pipeline, x: Any) -> np.ndarray:
    return estimator.predict_proba(x)


class ForecastModel(mlflow.pyfunc.PythonModel):
    """Point forecasts plus normalized split-conformal intervals for each target: the half-width is a
    calibrated multiple (per horizon) of the row's predicted difficulty. Output `{t}`, `{t}_lower`, `{t}_upper`."""

    def __init__(
        self,
        estimators: dict[str, Pipeline],
        difficulty: dict[str, Pipeline],
        halfwidths: dict[str, dict[int, float]],
        feature_columns: list[str],
        interval_level: float,
    ) -> None:
        self.estimators = estimators
        self.difficulty = difficulty
        self.halfwidths = halfwidths
        self.feature_columns = feature_columns
        self.interval_level = interval_level

    @property
    def targets(self) -> list[str]:
        return list(self.estimators)

    def predict_frame(self, inputs: pd.DataFrame) -> pd.DataFrame:
        x = inputs[self.feature_columns].astype(float)
        return pd.DataFrame(self.predict_columns(x, x["horizon"].to_numpy()), index=inputs.index)

    def predict_columns(
        self, x: Any, horizons: np.ndarray, predict: Callable[[Pipeline, Any], np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """The outputs for feature rows `x` (in `feature_columns` order); `predict(estimator, x)` may
        replace scikit-learn's own call with an equivalent faster one (the API does, for small batches)."""
        predict = predict or _predict
        out = {}
        for target, estimator in self.estimators.items():
            point = predict(estimator, x)
            width = lookup_halfwidths(self.halfwidths[target], horizons) * np.exp(
                predict(self.difficulty[target], x)
            )
            out[target], out[f"{target}_lower"], out[f"{target}_upper"] = point, point - width, point + width
        return out

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.predict_frame(model_input)


class ExceedanceModel(mlflow.pyfunc.PythonModel):
    """Probability that the target exceeds the threshold within the task's window; output `probability`."""

    def __init__(
        self, estimator: Pipeline, feature_columns: list[str], threshold: float, within_hours: int
    ) -> None:
        self.estimator = estimator
        self.feature_columns = feature_columns
        self.threshold = threshold
        self.within_hours = within_hours

    def predict_frame(self, inputs: pd.DataFrame) -> pd.DataFrame:
        x = inputs[self.feature_columns].astype(float)
        return pd.DataFrame(self.predict_columns(x), index=inputs.index)

    def predict_columns(
        self, x: Any, predict_proba: Callable[[Pipeline, Any], np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """`probability` for feature rows `x`; `predict_proba(estimator, x)` may replace scikit-learn's call."""
        classes = list(self.estimator.classes_)
        if 1.0 not in classes:
            return {"probability": np.zeros(len(x))}
        proba = (predict_proba or _predict_proba)(self.estimator, x)
        return {"probability": proba[:, classes.index(1.0)]}

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        return self.predict_frame(model_input)


@dataclass
class TrainingReport:
    """What training decided: the chosen candidate and every candidate's calibration score."""

    chosen: str
    scores: dict[str, float]
    details: dict[str, float] = field(default_factory=dict)


def _labelled(
    training_set: pd.DataFrame, split: str, label: str, columns: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """The model inputs and labels of one split's rows that have `label`, selected in one pass: a
    boolean selection of the whole table per use copied every column of it, several times per fit."""
    rows = (training_set["split"] == split).to_numpy() & training_set[label].notna().to_numpy()
    return training_set.loc[rows, columns], training_set.loc[rows, label]


def train_forecast_model(
    training_set: pd.DataFrame,
    spec: PipelineSpec,
    task: RegressionTask,
    candidates: list[ModelCandidate] | None = None,
) -> tuple[ForecastModel, TrainingReport]:
    """Fit every candidate on `train`, pick the best skill (MAE relative to the seasonal-naive baseline,
    averaged over targets) on `calibration`, then calibrate its intervals: a difficulty model learnt from
    the train residuals scales each row, and conformal multiples per horizon come from `calibration`."""
    columns = model_feature_columns(spec, task)
    train, calib = {}, {}
    for target in task.targets:
        train[target] = _labelled(training_set, "train", label_column(target), columns)
        if train[target][0].empty:
            raise ValueError(f"no training rows with a label for '{target}'")
        calib[target] = _labelled(training_set, "calibration", label_column(target), columns)
    best: tuple[float, str, dict[str, Pipeline], dict[str, np.ndarray]] | None = None
    scores: dict[str, float] = {}
    details: dict[str, float] = {}
    for candidate in candidates or task.candidates:
        fitted, residuals, skills = {}, {}, []
        for target in task.targets:
            x, y = train[target]
            estimator = build_estimator(candidate, "regression").fit(x, y)
            cal_x, cal_y = calib[target]
            observed = cal_y.to_numpy()
            residuals[target] = np.abs(observed - estimator.predict(cal_x))
            base = training_set.loc[cal_y.index, baseline_column(target)].to_numpy()
            ok = ~np.isnan(base)
            base_mae = float(np.mean(np.abs(observed[ok] - base[ok])))
            mae = float(np.mean(residuals[target]))
            details[f"{candidate.name}.{target}.calibration_mae"] = mae
            skills.append(mae / base_mae if base_mae > 0 else float("inf"))
            fitted[target] = estimator
        scores[candidate.name] = float(np.mean(skills))
        if best is None or scores[candidate.name] < best[0]:
            best = (scores[candidate.name], candidate.name, fitted, residuals)
    assert best is not None
    _, chosen, estimators, residuals = best
    widths, difficulty = {}, {}
    for target in task.targets:
        x, y = train[target]
        train_residuals = np.abs(y.to_numpy() - estimators[target].predict(x))
        difficulty[target] = fit_difficulty_model(x, train_residuals)
        cal_x, _ = calib[target]
        conformity = residuals[target] / np.exp(difficulty[target].predict(cal_x))
        widths[target] = halfwidths_by_horizon(conformity, cal_x["horizon"].to_numpy(), task.interval_level)
    model = ForecastModel(estimators, difficulty, widths, columns, task.interval_level)
    return model, TrainingReport(chosen=chosen, scores=scores, details=details)


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2))


def train_exceedance_model(
    training_set: pd.DataFrame,
    spec: PipelineSpec,
    task: ClassificationTask,
    candidates: list[ModelCandidate] | None = None,
) -> tuple[ExceedanceModel, TrainingReport]:
    """Fit every candidate on `train` and keep the lowest Brier score on `calibration`."""
    columns = model_feature_columns(spec, task)
    label = exceedance_label_column(task)
    x, y = _labelled(training_set, "train", label, columns)
    cal_x, cal_y = _labelled(training_set, "calibration", label, columns)
    if y.empty or y.nunique() < 2:
        raise ValueError(
            f"task '{task.name}': the training split needs both outcomes; "
            f"{int(y.sum())} of {len(y)} rows exceed {task.threshold}"
        )
    best: tuple[float, str, ExceedanceModel] | None = None
    scores: dict[str, float] = {}
    for candidate in candidates or task.candidates:
        estimator = build_estimator(candidate, "classification").fit(x, y.astype(int))
        model = ExceedanceModel(estimator, columns, task.threshold, task.within_hours)
        scores[candidate.name] = brier(cal_y.to_numpy(), model.predict_frame(cal_x)["probability"].to_numpy())
        if best is None or scores[candidate.name] < best[0]:
            best = (scores[candidate.name], candidate.name, model)
    assert best is not None
    return best[2], TrainingReport(chosen=best[1], scores=scores)
