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
from pipelines.intervals import halfwidths_by_horizon, lookup_halfwidths, recency_weights
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
    if candidate.loss is not None and kind == "regression":
        if candidate.algorithm == "random_forest":
            params.setdefault("criterion", candidate.loss)
        else:
            params.setdefault("loss", candidate.loss)
            if candidate.loss == "quantile":
                params.setdefault("quantile", candidate.quantile)
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
    candidate = base.model_copy(
        update={"name": f"{base.name}_requested", "params": {**base.params, **params}}
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


MODEL, BASELINE = "model", "baseline"


def trailing_mean_column(target: str) -> str:
    """The feature a `relative_to_trailing_mean` target is predicted relative to."""
    return f"{target}_mean24h"


class ForecastModel(mlflow.pyfunc.PythonModel):
    """Point forecasts plus normalized split-conformal intervals for each target: the half-width is a
    calibrated multiple (per horizon) of the row's predicted difficulty. Output `{t}`, `{t}_lower`, `{t}_upper`.

    With per-target sources, the inputs end with each target's seasonal-naive value (`baseline_{t}`) and the
    model also holds that baseline's calibrated half-widths; `sources` names what serves each target
    (the gates decide it after training; `with_sources` applies the decision)."""

    # Class defaults: versions pickled before these attributes existed load as model-only, untransformed.
    transforms: dict[str, str] = {}
    offset_fill: dict[str, float] = {}
    baseline_halfwidths: dict[str, dict[int, float]] = {}
    sources: dict[str, str] = {}
    estimator_columns: int = 1 << 30

    def __init__(
        self,
        estimators: dict[str, Pipeline],
        difficulty: dict[str, Pipeline],
        halfwidths: dict[str, dict[int, float]],
        feature_columns: list[str],
        interval_level: float,
        transforms: dict[str, str] | None = None,
        offset_fill: dict[str, float] | None = None,
        baseline_halfwidths: dict[str, dict[int, float]] | None = None,
    ) -> None:
        self.estimators = estimators
        self.difficulty = difficulty
        self.halfwidths = halfwidths
        self.feature_columns = feature_columns
        self.interval_level = interval_level
        self.transforms = transforms or {}
        self.offset_fill = offset_fill or {}
        self.baseline_halfwidths = baseline_halfwidths or {}
        self.sources = {}
        self.estimator_columns = len(feature_columns) - len(self.baseline_halfwidths)

    @property
    def targets(self) -> list[str]:
        return list(self.estimators)

    def source(self, target: str) -> str:
        return self.sources.get(target, MODEL)

    def with_sources(self, sources: dict[str, str]) -> ForecastModel:
        """A copy serving each target from `sources` (model | baseline; unnamed targets: model)."""
        unknown = {t: s for t, s in sources.items() if s == BASELINE and t not in self.baseline_halfwidths}
        if unknown:
            raise ValueError(f"no seasonal-naive baseline was calibrated for {', '.join(unknown)}")
        copy = object.__new__(ForecastModel)
        copy.__dict__.update(self.__dict__, sources={t: sources.get(t, MODEL) for t in self.targets})
        return copy

    def predict_frame(self, inputs: pd.DataFrame) -> pd.DataFrame:
        x = inputs[self.feature_columns].astype(float)
        return pd.DataFrame(self.predict_columns(x, x["horizon"].to_numpy()), index=inputs.index)

    def _column(self, x: Any, name: str) -> np.ndarray:
        if isinstance(x, pd.DataFrame):
            return x[name].to_numpy(dtype=float)
        return np.asarray(x[:, self.feature_columns.index(name)], dtype=float)

    def predict_columns(
        self, x: Any, horizons: np.ndarray, predict: Callable[[Pipeline, Any], np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """The outputs for feature rows `x` (in `feature_columns` order); `predict(estimator, x)` may
        replace scikit-learn's own call with an equivalent faster one (the API does, for small batches)."""
        predict = predict or _predict
        inputs = x
        if self.estimator_columns < len(self.feature_columns):  # the estimators take those before baselines
            n = self.estimator_columns
            inputs = x.iloc[:, :n] if isinstance(x, pd.DataFrame) else x[:, :n]
        out = {}
        for target, estimator in self.estimators.items():
            if self.source(target) == BASELINE:
                point = self._column(x, baseline_column(target))
                width = lookup_halfwidths(self.baseline_halfwidths[target], horizons)
            else:
                point = self.inverse_transform(target, predict(estimator, inputs), x)
                width = lookup_halfwidths(self.halfwidths[target], horizons) * np.exp(
                    predict(self.difficulty[target], inputs)
                )
            out[target], out[f"{target}_lower"], out[f"{target}_upper"] = point, point - width, point + width
        return out

    def _offset(self, target: str, x: Any) -> np.ndarray:
        offset = self._column(x, trailing_mean_column(target))
        return np.where(np.isnan(offset), self.offset_fill.get(target, 0.0), offset)

    def transform(self, target: str, y: np.ndarray, x: Any) -> np.ndarray:
        """The target as the estimator learns it."""
        kind = self.transforms.get(target, "none")
        if kind == "relative_to_trailing_mean":
            return y - self._offset(target, x)
        if kind == "log1p":
            return np.log1p(np.clip(y, 0, None))
        return y

    def inverse_transform(self, target: str, fitted: np.ndarray, x: Any) -> np.ndarray:
        kind = self.transforms.get(target, "none")
        if kind == "relative_to_trailing_mean":
            return fitted + self._offset(target, x)
        if kind == "log1p":
            return np.expm1(fitted)
        return fitted

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


def _calibration_weights(
    training_set: pd.DataFrame, index: pd.Index, spec: PipelineSpec, task: RegressionTask
) -> np.ndarray | None:
    """The weight of each calibration row's residual in the conformal quantile: none (all equal) for
    `conformal`; for `recent_weighted`, halving every `interval_half_life_days` before the latest target
    hour. Realized errors of archived forecasts, once they exist, are the most recent residuals of all and
    join the calibration residuals here with their own target hours."""
    if task.interval_method != "recent_weighted":
        return None
    origins = pd.DatetimeIndex(training_set.loc[index, spec.timestamp_column])
    hours = training_set.loc[index, "horizon"].to_numpy(dtype=float)
    target_times = (origins + pd.to_timedelta(hours, unit="h")).tz_localize(None).to_numpy()
    return recency_weights(target_times, task.interval_half_life_days * 24)


def train_forecast_model(
    training_set: pd.DataFrame,
    spec: PipelineSpec,
    task: RegressionTask,
    candidates: list[ModelCandidate] | None = None,
) -> tuple[ForecastModel, TrainingReport]:
    """Fit every candidate on `train` (with its loss and target transform), pick the best skill (MAE
    relative to the seasonal-naive baseline, averaged over targets) on `calibration`, then calibrate its
    intervals: a difficulty model learnt from the train residuals scales each row, and conformal multiples
    per horizon come from `calibration`. With `per_target_sources`, the seasonal-naive baseline's own
    conformal half-widths are calibrated on the same rows."""
    columns = model_feature_columns(spec, task)
    n_inputs = len(columns) - (len(task.targets) if task.per_target_sources else 0)

    def inputs(x: pd.DataFrame) -> pd.DataFrame:  # without the baseline columns, if any
        return x if n_inputs == len(columns) else x.iloc[:, :n_inputs]

    train, calib = {}, {}
    for target in task.targets:
        train[target] = _labelled(training_set, "train", label_column(target), columns)
        if train[target][0].empty:
            raise ValueError(f"no training rows with a label for '{target}'")
        calib[target] = _labelled(training_set, "calibration", label_column(target), columns)
    relative = any(c.target_transform == "relative_to_trailing_mean" for c in candidates or task.candidates)
    offset_fill = {t: float(train[t][1].median()) for t in task.targets} if relative else {}
    best: tuple[float, ForecastModel, dict[str, np.ndarray]] | None = None
    scores: dict[str, float] = {}
    details: dict[str, float] = {}
    chosen = ""
    for candidate in candidates or task.candidates:
        shell = ForecastModel(
            {}, {}, {}, columns, task.interval_level,
            {t: candidate.target_transform for t in task.targets}, offset_fill,
        )  # fmt: skip
        residuals, skills = {}, []
        for target in task.targets:
            x, y = train[target]
            fit_y = shell.transform(target, y.to_numpy(dtype=float), x)
            estimator = build_estimator(candidate, "regression").fit(inputs(x), fit_y)
            cal_x, cal_y = calib[target]
            observed = cal_y.to_numpy()
            predicted = shell.inverse_transform(target, estimator.predict(inputs(cal_x)), cal_x)
            residuals[target] = np.abs(observed - predicted)
            base = training_set.loc[cal_y.index, baseline_column(target)].to_numpy()
            ok = ~np.isnan(base)
            base_mae = float(np.mean(np.abs(observed[ok] - base[ok])))
            mae = float(np.mean(residuals[target]))
            details[f"{candidate.name}.{target}.calibration_mae"] = mae
            skills.append(mae / base_mae if base_mae > 0 else float("inf"))
            shell.estimators[target] = estimator
        scores[candidate.name] = float(np.mean(skills))
        if best is None or scores[candidate.name] < best[0]:
            best, chosen = (scores[candidate.name], shell, residuals), candidate.name
    assert best is not None
    _, model, residuals = best
    for target in task.targets:
        x, y = train[target]
        fitted = model.inverse_transform(target, model.estimators[target].predict(inputs(x)), x)
        model.difficulty[target] = fit_difficulty_model(inputs(x), np.abs(y.to_numpy() - fitted))
        cal_x, cal_y = calib[target]
        weights = _calibration_weights(training_set, cal_y.index, spec, task)
        horizons = cal_x["horizon"].to_numpy()
        conformity = residuals[target] / np.exp(model.difficulty[target].predict(inputs(cal_x)))
        model.halfwidths[target] = halfwidths_by_horizon(conformity, horizons, task.interval_level, weights)
        if task.per_target_sources:
            base_residuals = np.abs(cal_y.to_numpy() - cal_x[baseline_column(target)].to_numpy(dtype=float))
            model.baseline_halfwidths[target] = halfwidths_by_horizon(
                base_residuals, horizons, task.interval_level, weights
            )
    model.estimator_columns = n_inputs
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
