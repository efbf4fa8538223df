"""How the app words and rounds things: times, ages, and a model's holdout metrics as an analyst reads
them (error, skill over the seasonal-naive baseline, interval coverage; Brier and calibration)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd


def when(stamp: dt.datetime | str | None) -> str:
    if stamp is None:
        return "—"
    value = pd.Timestamp(stamp)
    value = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
    return value.strftime("%Y-%m-%d %H:%M UTC")


def age(stamp: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'3 h ago', '12 days ago'."""
    if stamp is None:
        return "no observation yet"
    hours = ((now or dt.datetime.now(dt.UTC)) - stamp).total_seconds() / 3600
    if hours < 1:
        return "less than an hour ago"
    if hours < 48:
        return f"{hours:.0f} h ago"
    return f"{hours / 24:.0f} days ago"


def _skill(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return 1 - value / baseline


def _clean(metrics: dict[str, float]) -> dict[str, float]:
    return {k.removeprefix("holdout."): v for k, v in metrics.items() if v is not None and not math.isnan(v)}


def headline_metrics(kind: str, metrics: dict[str, float]) -> list[dict[str, object]]:
    """One row per target (forecasts) or one row (classifier) of holdout figures, rounded for reading."""
    m = _clean(metrics)
    if kind == "classification":
        return [
            {
                "Brier": round(m["brier"], 4) if "brier" in m else None,
                "Brier skill": _pct(_skill(m.get("brier"), m.get("baseline_brier"))),
                "calibration error": round(m["calibration_error"], 4) if "calibration_error" in m else None,
                "ROC AUC": round(m["roc_auc"], 3) if "roc_auc" in m else None,
            }
        ]
    if "mae" in m:  # a tabular regression: one target, its metrics not prefixed by its name
        return [
            {
                "MAE": round(m["mae"], 3),
                "RMSE": round(m.get("rmse", math.nan), 3),
                "skill vs mean": _pct(_skill(m.get("mae"), m.get("baseline_mae"))),
                "coverage": _pct(m.get("coverage")),
                "interval width": round(m.get("interval_width", math.nan), 2),
            }
        ]
    targets = sorted({k.split(".")[0] for k in m if k.endswith(".mae") and "." in k})
    return [
        {
            "target": t,
            "MAE": round(m[f"{t}.mae"], 3),
            "RMSE": round(m.get(f"{t}.rmse", math.nan), 3),
            "skill vs naive": _pct(_skill(m.get(f"{t}.mae"), m.get(f"{t}.baseline_mae"))),
            "coverage": _pct(m.get(f"{t}.coverage")),
            "interval width": round(m.get(f"{t}.interval_width", math.nan), 2),
            # Gated per target, a target whose model failed its gates is served by the seasonal-naive baseline.
            "served by": "baseline" if m.get(f"{t}.served_by_model") == 0.0 else "model",
        }
        for t in targets
    ]


def flat_metrics(kind: str, metrics: dict[str, float]) -> dict[str, object]:
    """The headline figures of one version as one flat row (`no2 MAE`, `co coverage`, …)."""
    out: dict[str, object] = {}
    for row in headline_metrics(kind, metrics):
        target = row.pop("target", None)
        out.update({f"{target} {k}" if target else k: v for k, v in row.items()})
    return out


def _pct(value: float | None) -> str | None:
    return None if value is None or math.isnan(value) else f"{value:.1%}"
