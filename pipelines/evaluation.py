"""Evaluation on the holdout and the promotion gates (beats baseline, beats champion, calibrated).

Metrics are plain dicts of floats so they go straight into MLflow, Dagster metadata and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pipelines.intervals import coverage
from pipelines.models import BASELINE, MODEL, ExceedanceModel, ForecastModel, brier
from pipelines.spec import ClassificationTask, RegressionTask
from pipelines.training_set import baseline_column, exceedance_label_column, label_column


def holdout(training_set: pd.DataFrame) -> pd.DataFrame:
    return training_set[training_set["split"] == "holdout"]


def climatology(training_set: pd.DataFrame, task: ClassificationTask) -> float:
    """The exceedance rate of the train split: the no-skill probability forecast."""
    return float(training_set.loc[training_set["split"] == "train", exceedance_label_column(task)].mean())


def forecast_metrics(predicted: pd.DataFrame, rows: pd.DataFrame, task: RegressionTask) -> dict[str, float]:
    """Per target: mae, rmse, the seasonal-naive baseline's mae/rmse, interval coverage and mean width, from
    a ForecastModel's `predict_frame(rows)`."""
    out: dict[str, float] = {}
    for target in task.targets:
        y = rows[label_column(target)].to_numpy(dtype=float)
        base = rows[baseline_column(target)].to_numpy(dtype=float)
        ok = ~np.isnan(y) & ~np.isnan(base)
        err = predicted[target].to_numpy()[ok] - y[ok]
        base_err = base[ok] - y[ok]
        out[f"{target}.mae"] = float(np.mean(np.abs(err)))
        out[f"{target}.rmse"] = float(np.sqrt(np.mean(err**2)))
        out[f"{target}.baseline_mae"] = float(np.mean(np.abs(base_err)))
        out[f"{target}.baseline_rmse"] = float(np.sqrt(np.mean(base_err**2)))
        lower, upper = (
            predicted[f"{target}_lower"].to_numpy()[ok],
            predicted[f"{target}_upper"].to_numpy()[ok],
        )
        out[f"{target}.coverage"] = coverage(y[ok], lower, upper)
        out[f"{target}.interval_width"] = float(np.mean(upper - lower))
        out[f"{target}.rows"] = float(ok.sum())
    return out


def exceedance_metrics(
    model: ExceedanceModel, rows: pd.DataFrame, task: ClassificationTask, climatology: float
) -> dict[str, float]:
    """Brier score, the climatological baseline's Brier score (the train split's exceedance rate: what a
    forecaster without a model would say), ROC AUC and expected calibration error."""
    rows = rows.dropna(subset=[exceedance_label_column(task)])
    y = rows[exceedance_label_column(task)].to_numpy(dtype=float)
    p = model.predict_frame(rows)["probability"].to_numpy()
    rate = float(np.mean(y)) if len(y) else float("nan")
    out = {
        "brier": brier(y, p),
        "baseline_brier": brier(y, np.full(len(y), climatology)),
        "climatology": climatology,
        "calibration_error": expected_calibration_error(y, p),
        "positive_rate": rate,
        "rows": float(len(y)),
    }
    out["roc_auc"] = float(roc_auc_score(y, p)) if 0 < rate < 1 else float("nan")
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean predicted probability| over equal-width bins, weighted by bin size."""
    if len(y) == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def permutation_importance(
    estimator, rows: pd.DataFrame, y: pd.Series, columns: list[str], n_repeats: int = 2, seed: int = 0
) -> pd.Series:
    """How much worse the estimator gets when one column is shuffled, per column, mean over `n_repeats`
    shuffles: the drop in R² for a regressor, the rise in Brier score for a classifier (it has
    `predict_proba`).

    The idea of sklearn.inspection.permutation_importance, but every shuffled copy is predicted in one call,
    where sklearn makes one call per column and repeat, each paying the model's fixed per-call cost.
    """
    x = rows[columns].to_numpy(dtype=float)
    target = np.asarray(y, dtype=float)
    n, k = x.shape
    rng = np.random.default_rng(seed)
    shuffled = np.broadcast_to(x, (k, n_repeats, n, k)).copy()
    for j in range(k):
        for r in range(n_repeats):
            shuffled[j, r, :, j] = rng.permutation(x[:, j])

    classifier = hasattr(estimator, "predict_proba")

    def predict(values: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(values, columns=columns)
        return estimator.predict_proba(frame)[:, 1] if classifier else estimator.predict(frame)

    base_error = ((predict(x) - target) ** 2).sum()
    errors = ((predict(shuffled.reshape(-1, k)).reshape(k, n_repeats, n) - target) ** 2).sum(axis=2)
    # R² = 1 - SSE / SST, so its drop is the SSE's rise over SST; Brier is the SSE over n.
    scale = n if classifier else max(float(((target - target.mean()) ** 2).sum()), 1e-12)
    return pd.Series((errors.mean(axis=1) - base_error) / scale, index=columns)


@dataclass(frozen=True)
class Gate:
    """One promotion gate's verdict, worded for the person reading the asset check."""

    name: str
    passed: bool
    description: str
    metadata: dict[str, float]


def _relative(value: float, reference: float) -> float:
    return 1 - value / reference if reference else 0.0


def served_metrics(
    model_predicted: pd.DataFrame,
    baseline_predicted: pd.DataFrame,
    rows: pd.DataFrame,
    task: RegressionTask,
    sources: dict[str, str],
) -> dict[str, float]:
    """`{t}.served_*`: the metrics of what serves each target (the model's or the baseline's forecasts),
    `{t}.served_by_model` 1/0, and the baseline interval's `{t}.baseline_coverage` and width."""
    served = model_predicted.copy()
    for t in task.targets:
        if sources[t] == BASELINE:
            for column in (t, f"{t}_lower", f"{t}_upper"):
                served[column] = baseline_predicted[column]
    out: dict[str, float] = {}
    baseline = forecast_metrics(baseline_predicted, rows, task)
    for key, value in forecast_metrics(served, rows, task).items():
        target, name = key.split(".", 1)
        if not name.startswith("baseline_"):
            out[f"{target}.served_{name}"] = value
    for t in task.targets:
        out[f"{t}.baseline_coverage"] = baseline[f"{t}.coverage"]
        out[f"{t}.baseline_interval_width"] = baseline[f"{t}.interval_width"]
        out[f"{t}.served_by_model"] = float(sources[t] == MODEL)
    return out


def target_sources(task: RegressionTask, candidate: dict[str, float]) -> dict[str, tuple[str, str]]:
    """Per target, what serves it and why: the model when it beats the seasonal-naive baseline by the
    spec's margin and its interval is calibrated, otherwise the baseline (never worse than naive). A task
    without `per_target_sources` serves the model for every target (its gates then block as a whole)."""
    metric, rule = task.promotion.metric, task.promotion
    out = {}
    for t in task.targets:
        if not task.per_target_sources:
            out[t] = (MODEL, "the task is gated as a whole")
            continue
        gain = _relative(candidate[f"{t}.{metric}"], candidate[f"{t}.baseline_{metric}"])
        cov = candidate[f"{t}.coverage"]
        problems = []
        if gain < rule.min_improvement_over_baseline:
            problems.append(
                f"model {metric} {gain:+.1%} over seasonal naive (need ≥ {rule.min_improvement_over_baseline:.0%})"
            )
        if abs(cov - task.interval_level) > task.coverage_tolerance:
            problems.append(
                f"model interval covers {cov:.1%} (nominal {task.interval_level:.0%} ± {task.coverage_tolerance:.0%})"
            )
        if problems:
            out[t] = (BASELINE, "; ".join(problems))
        else:
            out[t] = (MODEL, f"model {metric} {gain:+.1%} over seasonal naive, interval covers {cov:.1%}")
    return out


def forecast_gates(
    task: RegressionTask,
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    champion_version: str | None,
) -> list[Gate]:
    """The three gates. Gated per target (`per_target_sources`), beats_baseline and calibrated pass when at
    least one target is served by the model (the others by the baseline), and beats_champion compares what
    each target would serve with what the champion serves for it."""
    metric, rule = task.promotion.metric, task.promotion
    per_target = task.per_target_sources
    sources = target_sources(task, candidate)
    served = [t for t in task.targets if sources[t][0] == MODEL]
    gates = []
    notes, ok, meta = [], True, {}
    for t in task.targets:
        gain = _relative(candidate[f"{t}.{metric}"], candidate[f"{t}.baseline_{metric}"])
        meta[f"{t}.improvement_over_baseline"] = gain
        ok &= gain >= rule.min_improvement_over_baseline
        notes.append(
            f"{t}: {metric} {candidate[f'{t}.{metric}']:.3f} vs seasonal-naive {candidate[f'{t}.baseline_{metric}']:.3f}"
            f" ({gain:+.1%}, need ≥ {rule.min_improvement_over_baseline:.0%})"
            + (f" → served by the {sources[t][0]}" if per_target else "")
        )
    gates.append(Gate("beats_baseline", bool(served) if per_target else bool(ok), "; ".join(notes), meta))

    if champion is None:
        gates.append(
            Gate(
                "beats_champion",
                True,
                "no champion yet: the first model that passes the gates becomes it",
                {},
            )
        )
    else:
        notes, ok, meta = [], True, {}
        # What the candidate would serve against what the champion serves (its metrics are of its served forecasts).
        mine = "served_" if per_target else ""
        for t in task.targets:
            value = candidate[f"{t}.{mine}{metric}"]
            gain = _relative(value, champion[f"{t}.{metric}"])
            meta[f"{t}.improvement_over_champion"] = gain
            ok &= gain >= rule.min_improvement_over_champion
            notes.append(
                f"{t}: {metric} {value:.3f} vs champion v{champion_version} "
                f"{champion[f'{t}.{metric}']:.3f} ({gain:+.1%}, need ≥ {rule.min_improvement_over_champion:.0%})"
            )
        gates.append(Gate("beats_champion", bool(ok), "; ".join(notes), meta))

    notes, ok, meta = [], True, {}
    for t in task.targets:
        cov, width = candidate[f"{t}.coverage"], candidate[f"{t}.interval_width"]
        meta[f"{t}.coverage"], meta[f"{t}.interval_width"] = cov, width
        ok &= abs(cov - task.interval_level) <= task.coverage_tolerance
        note = f"{t}: {cov:.1%} of holdout values inside the {task.interval_level:.0%} interval (mean width {width:.3g})"
        if per_target and sources[t][0] == BASELINE:
            note += (
                f", served by the baseline: {candidate[f'{t}.baseline_coverage']:.1%} "
                f"(mean width {candidate[f'{t}.baseline_interval_width']:.3g})"
            )
        notes.append(note)
    tolerance = f"nominal {task.interval_level:.0%} ± {task.coverage_tolerance:.0%}"
    gates.append(
        Gate(
            "calibrated", bool(served) if per_target else bool(ok), "; ".join(notes) + f" ({tolerance})", meta
        )
    )
    return gates


def exceedance_gates(
    task: ClassificationTask,
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    champion_version: str | None,
) -> list[Gate]:
    rule = task.promotion
    gain = _relative(candidate["brier"], candidate["baseline_brier"])
    gates = [
        Gate(
            "beats_baseline",
            gain >= rule.min_improvement_over_baseline,
            f"Brier {candidate['brier']:.4f} vs climatology {candidate['baseline_brier']:.4f} "
            f"({gain:+.1%}, need ≥ {rule.min_improvement_over_baseline:.0%})",
            {"improvement_over_baseline": gain},
        )
    ]
    if champion is None:
        gates.append(
            Gate(
                "beats_champion",
                True,
                "no champion yet: the first model that passes the gates becomes it",
                {},
            )
        )
    else:
        gain = _relative(candidate["brier"], champion["brier"])
        gates.append(
            Gate(
                "beats_champion",
                gain >= rule.min_improvement_over_champion,
                f"Brier {candidate['brier']:.4f} vs champion v{champion_version} {champion['brier']:.4f} "
                f"({gain:+.1%}, need ≥ {rule.min_improvement_over_champion:.0%})",
                {"improvement_over_champion": gain},
            )
        )
    ece = candidate["calibration_error"]
    gates.append(
        Gate(
            "calibrated",
            bool(ece <= task.max_calibration_error),
            f"expected calibration error {ece:.3f} (limit {task.max_calibration_error:.3f})",
            {"calibration_error": ece},
        )
    )
    return gates


@dataclass(frozen=True)
class Evaluation:
    """A candidate on the holdout: its metrics, the champion's on the same rows, the gates' verdicts, for a
    forecast model its holdout predictions (for the residual figure) and per target what serves it and why."""

    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    gates: list[Gate]
    predicted: pd.DataFrame | None
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)


def evaluate_candidate(
    candidate: ForecastModel | ExceedanceModel,
    training_set: pd.DataFrame,
    task: RegressionTask | ClassificationTask,
    champion: ForecastModel | ExceedanceModel | None = None,
    champion_version: str | None = None,
) -> Evaluation:
    """Score the candidate (and the current champion, if any) on the training set's holdout and judge the
    promotion gates."""
    rows = holdout(training_set)

    def score(model: ForecastModel | ExceedanceModel) -> tuple[dict[str, float], pd.DataFrame | None]:
        if isinstance(task, RegressionTask):
            predicted = model.predict_frame(rows)
            return forecast_metrics(predicted, rows, task), predicted
        return exceedance_metrics(model, rows, task, climatology(training_set, task)), None

    metrics, predicted = score(candidate)
    champion_metrics = score(champion)[0] if champion is not None else None
    if not isinstance(task, RegressionTask):
        gates = exceedance_gates(task, metrics, champion_metrics, champion_version)
        return Evaluation(metrics, champion_metrics, gates, predicted)
    sources = target_sources(task, metrics)
    if task.per_target_sources:
        baseline = candidate.with_sources(dict.fromkeys(task.targets, BASELINE)).predict_frame(rows)
        metrics |= served_metrics(predicted, baseline, rows, task, {t: s for t, (s, _) in sources.items()})
    gates = forecast_gates(task, metrics, champion_metrics, champion_version)
    return Evaluation(metrics, champion_metrics, gates, predicted, sources)
