"""Split-conformal prediction intervals, one conformal quantile per horizon (Mondrian conformal).

The scores are absolute residuals, optionally divided by a predicted difficulty (normalized conformal,
see pipelines/models.py). Residuals grow with the horizon, so one width for all horizons would
over-cover the next hour and under-cover tomorrow; a quantile per horizon keeps each horizon near the
nominal level. Horizons with too few calibration rows fall back to the pooled quantile.
"""

from __future__ import annotations

import math

import numpy as np

MIN_GROUP_SIZE = 30


def conformal_halfwidth(abs_residuals: np.ndarray, level: float) -> float:
    """The finite-sample-valid quantile: the ceil((n+1)*level)-th smallest absolute residual."""
    r = np.sort(np.asarray(abs_residuals, dtype=float)[~np.isnan(abs_residuals)])
    if len(r) == 0:
        raise ValueError("no calibration residuals: the calibration split is empty")
    rank = min(len(r), math.ceil((len(r) + 1) * level))
    return float(r[rank - 1])


def weighted_conformal_halfwidth(abs_residuals: np.ndarray, weights: np.ndarray, level: float) -> float:
    """Weighted split-conformal quantile (Barber et al., 2023, "Conformal prediction beyond
    exchangeability"): the `level` quantile of the residuals weighted by `weights`, with the new point's
    weight (1, the most recent) put at +infinity; the largest residual when that quantile is infinite."""
    r = np.asarray(abs_residuals, dtype=float)
    w = np.asarray(weights, dtype=float)
    ok = ~np.isnan(r)
    r, w = r[ok], w[ok]
    if len(r) == 0:
        raise ValueError("no calibration residuals: the calibration split is empty")
    order = np.argsort(r)
    cumulative = np.cumsum(w[order]) / (w.sum() + 1.0)
    rank = int(np.searchsorted(cumulative, level))
    return float(r[order][min(rank, len(r) - 1)])


def recency_weights(times: np.ndarray, half_life_hours: float) -> np.ndarray:
    """1 for the latest time, halving every `half_life_hours` before it."""
    hours = np.asarray(times, dtype="datetime64[ns]").astype("int64") / 3.6e12
    return np.power(0.5, (hours.max() - hours) / half_life_hours)


def halfwidths_by_horizon(
    abs_residuals: np.ndarray, horizons: np.ndarray, level: float, weights: np.ndarray | None = None
) -> dict[int, float]:
    """Half-width per horizon; key 0 holds the pooled width used for horizons not seen in calibration.

    With `weights` (e.g. `recency_weights`), the level comes from the weighted conformal quantile of all
    horizons pooled and the shape across horizons from every calibration row: each horizon's width is its
    own quantile scaled by (weighted pooled / unweighted pooled). A weighted quantile per horizon would rest
    on a few effective rows each (a week's half-life is ~10 rows per horizon) and jump to their maximum."""
    pooled = conformal_halfwidth(abs_residuals, level)
    widths = {0: pooled}
    for h in np.unique(horizons):
        group = abs_residuals[horizons == h]
        if np.count_nonzero(~np.isnan(group)) >= MIN_GROUP_SIZE:
            widths[int(h)] = conformal_halfwidth(group, level)
    if weights is None:
        return widths
    scale = weighted_conformal_halfwidth(abs_residuals, weights, level) / pooled if pooled > 0 else 1.0
    return {h: w * scale for h, w in widths.items()}


def lookup_halfwidths(widths: dict[int, float], horizons: np.ndarray) -> np.ndarray:
    table = np.full(max(widths) + 2, widths[0])
    for h, w in widths.items():
        table[h] = w
    idx = np.clip(np.nan_to_num(np.asarray(horizons, dtype=float), nan=0).astype(int), 0, len(table) - 1)
    idx[np.asarray(horizons, dtype=float) > max(widths)] = 0
    return table[idx]


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of observed values inside [lower, upper]."""
    ok = ~np.isnan(y)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lower[ok]) & (y[ok] <= upper[ok])))
