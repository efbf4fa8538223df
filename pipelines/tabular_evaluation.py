"""Tabular evaluation on the holdout: the candidate against the no-skill baseline (prior class probabilities,
or the mean) and the champion, the promotion gates, and metrics per slice with the non-blocking slice check.

Metrics are plain dicts of floats (`log_loss`, `baseline_log_loss`, `set_coverage`, …) so they go straight
into MLflow, Dagster metadata and the API; the gates are the same `Gate` verdicts the time-series tasks use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pipelines.evaluation import Gate
from pipelines.spec import SliceSpec, TabularSpec, TabularTask
from pipelines.tabular_models import (
    TabularModel,
    aligned_proba,
    baseline_model,
    calibration_error,
    class_names,
    prediction_sets,
    target_index,
)

MIN_SLICE_ROWS = 30


def log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    p = np.clip(proba[np.arange(len(y)), y], 1e-15, 1)
    return float(-np.mean(np.log(p)))


def brier(y: np.ndarray, proba: np.ndarray) -> float:
    """Half the summed squared error over classes: for two classes, the usual (p − y)²."""
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y)), y] = 1
    return float(np.mean(((proba - onehot) ** 2).sum(axis=1)) / 2)


def metric_value(metric: str, y: np.ndarray, predicted: np.ndarray) -> float:
    """A promotion metric, lower is better: probabilities for log_loss/brier, values for mae/rmse."""
    y = np.asarray(y)
    if metric == "log_loss":
        return log_loss(y.astype(int), predicted)
    if metric == "brier":
        return brier(y.astype(int), predicted)
    err = np.asarray(predicted, dtype=float) - y.astype(float)
    return float(np.mean(np.abs(err))) if metric == "mae" else float(np.sqrt(np.mean(err**2)))


def classification_metrics(y: np.ndarray, proba: np.ndarray, quantile: float | None) -> dict[str, float]:
    out = {
        "log_loss": log_loss(y, proba),
        "brier": brier(y, proba),
        "accuracy": float(np.mean(proba.argmax(axis=1) == y)),
        "calibration_error": calibration_error(y, proba),
        "rows": float(len(y)),
    }
    if proba.shape[1] == 2 and len(np.unique(y)) == 2:
        out["roc_auc"] = float(roc_auc_score(y, proba[:, 1]))
    if quantile is not None:
        sets = prediction_sets(proba, quantile)
        out["set_coverage"] = float(np.mean(sets[np.arange(len(y)), y]))
        out["set_size"] = float(np.mean(sets.sum(axis=1)))
    return out


def regression_metrics(y: np.ndarray, frame: pd.DataFrame | None, point: np.ndarray) -> dict[str, float]:
    err = point - y
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2))), "rows": float(len(y))}
    if frame is not None:
        out["coverage"] = float(np.mean((y >= frame["lower"].to_numpy()) & (y <= frame["upper"].to_numpy())))
        out["interval_width"] = float(np.mean(frame["upper"] - frame["lower"]))
    return out


def model_metrics(model: TabularModel, rows: pd.DataFrame, task: TabularTask) -> dict[str, float]:
    if task.kind == "classification":
        y = target_index(rows[task.target], model.classes)
        return classification_metrics(y, model.probabilities(rows), model.quantile)
    frame = model.predict_frame(rows)
    return regression_metrics(rows[task.target].to_numpy(dtype=float), frame, frame["prediction"].to_numpy())


def baseline_metrics(
    training_set: pd.DataFrame, rows: pd.DataFrame, spec: TabularSpec, task: TabularTask
) -> dict[str, float]:
    """The no-skill model's metrics on the same rows, prefixed `baseline_`."""
    baseline = baseline_model(training_set, spec, task)
    zeros = np.zeros((len(rows), 1))
    if task.kind == "classification":
        classes = class_names(spec, task, training_set.loc[training_set["split"] == "train", task.target])
        found = classification_metrics(
            target_index(rows[task.target], classes), aligned_proba(baseline, zeros, len(classes)), None
        )
    else:
        found = regression_metrics(rows[task.target].to_numpy(dtype=float), None, baseline.predict(zeros))
    return {f"baseline_{k}": v for k, v in found.items() if k != "rows"}


def slice_groups(rows: pd.DataFrame, slice_: SliceSpec) -> dict[str, pd.Index]:
    """The rows of each slice value (or numeric band, `30-45`), by name."""
    values = rows[slice_.column]
    if slice_.bins:
        edges = slice_.bins
        labels = [f"{edges[i]:g}-{edges[i + 1]:g}" for i in range(len(edges) - 1)]
        values = pd.cut(pd.to_numeric(values, errors="coerce"), edges, labels=labels, right=False)
    groups = rows.groupby(values.astype(object).where(values.notna(), "(missing)"), observed=True).groups
    return {str(k): v for k, v in groups.items()}


def metric_name(*parts: str) -> str:
    """A name MLflow accepts (letters, digits, `_-. /:`): other characters become `_`."""
    return ".".join(re.sub(r"[^A-Za-z0-9_\-. /:]", "_", p) for p in parts)


def slice_metrics(model: TabularModel, rows: pd.DataFrame, task: TabularTask) -> dict[str, dict[str, float]]:
    """Per slice (`sex=Female`, `age_band=30-45`): the model's metrics on its holdout rows."""
    out = {}
    for slice_ in task.slices:
        for value, index in slice_groups(rows, slice_).items():
            if len(index) >= MIN_SLICE_ROWS:
                out[f"{slice_.label}={value}"] = model_metrics(model, rows.loc[index], task)
    return out


def slice_gate(task: TabularTask, overall: dict[str, float], slices: dict[str, dict[str, float]]) -> Gate:
    """Non-blocking: passes unless a slice's promotion metric is worse than overall by more than the tolerance."""
    metric = task.promotion.metric
    worse = {
        name: found[metric] / overall[metric] - 1
        for name, found in slices.items()
        if overall[metric] > 0 and found[metric] > overall[metric] * (1 + task.slice_tolerance)
    }
    described = "; ".join(
        f"{name}: {metric} {slices[name][metric]:.3f} ({gap:+.0%})" for name, gap in worse.items()
    )
    return Gate(
        "slices",
        not worse,
        f"slices worse than overall {metric} {overall[metric]:.3f} by more than {task.slice_tolerance:.0%}: {described}"
        if worse
        else f"{len(slices)} slices within {task.slice_tolerance:.0%} of overall {metric} {overall[metric]:.3f}",
        {metric_name(name, metric): v[metric] for name, v in slices.items()},
    )


def _relative(value: float, reference: float) -> float:
    return 1 - value / reference if reference else 0.0


def tabular_gates(
    task: TabularTask,
    metrics: dict[str, float],
    champion: dict[str, float] | None,
    champion_version: str | None,
) -> list[Gate]:
    rule, metric = task.promotion, task.promotion.metric
    baseline = metrics[f"baseline_{metric}"]
    gain = _relative(metrics[metric], baseline)
    gates = [
        Gate(
            "beats_baseline",
            gain >= rule.min_improvement_over_baseline,
            f"{metric} {metrics[metric]:.4f} vs {'prior' if task.kind == 'classification' else 'mean'} baseline "
            f"{baseline:.4f} ({gain:+.1%}, need ≥ {rule.min_improvement_over_baseline:.0%})",
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
        gain = _relative(metrics[metric], champion[metric])
        gates.append(
            Gate(
                "beats_champion",
                gain >= rule.min_improvement_over_champion,
                f"{metric} {metrics[metric]:.4f} vs champion v{champion_version} {champion[metric]:.4f} "
                f"({gain:+.1%}, need ≥ {rule.min_improvement_over_champion:.0%})",
                {"improvement_over_champion": gain},
            )
        )
    if task.kind == "classification":
        ece, cov = metrics["calibration_error"], metrics["set_coverage"]
        ok = ece <= task.max_calibration_error and cov >= task.level - task.coverage_tolerance
        text = (
            f"expected calibration error {ece:.3f} (limit {task.max_calibration_error:.3f}); prediction sets "
            f"cover {cov:.1%} of holdout labels (nominal {task.level:.0%} − {task.coverage_tolerance:.0%})"
        )
        gates.append(Gate("calibrated", bool(ok), text, {"calibration_error": ece, "set_coverage": cov}))
    else:
        cov = metrics["coverage"]
        ok = abs(cov - task.level) <= task.coverage_tolerance
        text = f"{cov:.1%} of holdout values inside the {task.level:.0%} interval (± {task.coverage_tolerance:.0%})"
        gates.append(Gate("calibrated", bool(ok), text, {"coverage": cov}))
    return gates


@dataclass(frozen=True)
class TabularEvaluation:
    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    gates: list[Gate]  # the blocking promotion gates
    slices: dict[str, dict[str, float]]
    slice_check: Gate  # non-blocking


def evaluate_tabular(
    candidate: TabularModel,
    training_set: pd.DataFrame,
    spec: TabularSpec,
    task: TabularTask,
    champion: TabularModel | None = None,
    champion_version: str | None = None,
) -> TabularEvaluation:
    """The candidate (and the champion, if any) on the holdout, the gates, and the per-slice metrics."""
    rows = training_set[training_set["split"] == "holdout"]
    if rows.empty:
        raise ValueError("the holdout split is empty")
    metrics = {**model_metrics(candidate, rows, task), **baseline_metrics(training_set, rows, spec, task)}
    champion_metrics = model_metrics(champion, rows, task) if champion is not None else None
    slices = slice_metrics(candidate, rows, task)
    return TabularEvaluation(
        metrics,
        champion_metrics,
        tabular_gates(task, metrics, champion_metrics, champion_version),
        slices,
        slice_gate(task, metrics, slices),
    )
