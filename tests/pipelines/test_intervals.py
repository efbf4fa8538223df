"""Split-conformal intervals cover about as often as they claim."""

import numpy as np

from pipelines.intervals import conformal_halfwidth, coverage, halfwidths_by_horizon, lookup_halfwidths


def test_halfwidth_uses_the_finite_sample_rank():
    residuals = np.arange(1, 20, dtype=float)  # 19 residuals: rank ceil(20 * 0.9) = 18
    assert conformal_halfwidth(residuals, 0.9) == 18.0


def test_intervals_cover_nominal_share_on_exchangeable_data_per_horizon():
    rng = np.random.default_rng(0)
    horizons = rng.integers(1, 25, size=40_000)
    noise = rng.normal(0, 1 + horizons / 6)  # uncertainty grows with the horizon
    calib, test = slice(0, 20_000), slice(20_000, None)
    widths = halfwidths_by_horizon(np.abs(noise[calib]), horizons[calib], level=0.9)
    half = lookup_halfwidths(widths, horizons[test])
    assert abs(coverage(noise[test], -half, half) - 0.9) < 0.01
    for h in (1, 24):
        mask = horizons[test] == h
        assert abs(coverage(noise[test][mask], -half[mask], half[mask]) - 0.9) < 0.03
    assert widths[24] > 2 * widths[1]


def test_unseen_horizon_falls_back_to_the_pooled_width():
    widths = {0: 5.0, 1: 1.0}
    assert lookup_halfwidths(widths, np.array([1, 7, 48])).tolist() == [1.0, 5.0, 5.0]
