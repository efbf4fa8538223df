"""The figures a model version carries in MLflow: which features matter, and how holdout error grows with
lead time. Plain functions returning matplotlib figures (no pyplot state, safe in any thread).

matplotlib is imported inside them: loading the code location (every run worker, the webserver) does not
pay for it. Margins are fixed because `tight_layout` measures every label first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from pipelines.training_set import label_column

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def feature_importance_figure(model: Any, rows: pd.DataFrame, label: str, columns: list[str]) -> Figure:
    """Permutation importance of the model's first estimator on up to 500 labelled rows: the 15 features
    whose shuffling hurts the most (R² for a forecast, Brier score for a probability)."""
    from matplotlib.figure import Figure

    from pipelines.evaluation import permutation_importance

    labelled = rows.dropna(subset=[label])
    sample = labelled.sample(n=min(500, len(labelled)), random_state=0)
    estimator = (
        model.estimators[next(iter(model.estimators))] if hasattr(model, "estimators") else model.estimator
    )
    importance = permutation_importance(estimator, sample, sample[label], columns).sort_values().tail(15)
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    ax.barh(importance.index, importance.to_numpy())
    ax.set_xlabel(
        "rise in Brier score when shuffled"
        if hasattr(estimator, "predict_proba")
        else "drop in R² when shuffled"
    )
    ax.set_title(f"Permutation importance ({label})")
    fig.subplots_adjust(left=0.3, right=0.97, top=0.92, bottom=0.1)  # room for the feature names
    return fig


def residual_figure(predicted: pd.DataFrame, rows: pd.DataFrame, targets: list[str]) -> Figure:
    """Holdout residuals by horizon: median and the 25-75% and 5-95% bands, one panel per target."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6 * len(targets), 4))
    axes = fig.subplots(1, len(targets), squeeze=False)
    for ax, target in zip(axes[0], targets, strict=True):
        residual = rows[label_column(target)].to_numpy() - predicted[target].to_numpy()
        bands = (
            pd.Series(residual).groupby(rows["horizon"].to_numpy()).quantile([0.05, 0.25, 0.5, 0.75, 0.95])
        )
        q = bands.unstack()
        ax.fill_between(q.index, q[0.05], q[0.95], alpha=0.2, color="tab:blue", label="5–95%")
        ax.fill_between(q.index, q[0.25], q[0.75], alpha=0.4, color="tab:blue", label="25–75%")
        ax.plot(q.index, q[0.5], color="tab:blue", label="median")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("horizon (h)")
        ax.set_ylabel(f"{target}: observed − predicted")
        ax.set_title(f"Holdout residuals by horizon, {target}")
        ax.legend(loc="upper left")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.9, bottom=0.13, wspace=0.25)
    return fig
