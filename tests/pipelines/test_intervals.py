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


def test_recent_weighting_follows_the_recent_errors_and_keeps_the_shape_across_horizons():
    from pipelines.intervals import recency_weights

    rng = np.random.default_rng(1)
    hours = np.arange(24 * 60)
    horizons = hours % 24 + 1
    times = np.datetime64("2025-01-01T00:00", "ns") + hours.astype("timedelta64[h]")
    scale = np.where(hours < 24 * 45, 3.0, 1.0)  # a noisy winter, then the last 15 days calm
    residuals = np.abs(rng.normal(0, scale * (1 + horizons / 12)))
    plain = halfwidths_by_horizon(residuals, horizons, 0.9)
    recent = halfwidths_by_horizon(residuals, horizons, 0.9, recency_weights(times, 7 * 24))
    assert recent[0] < 0.7 * plain[0]  # the recent calm sets the level
    assert recent[24] / recent[1] == plain[24] / plain[1]  # every row sets the shape
    calm = np.abs(rng.normal(0, 1 + horizons / 12))
    half, old = lookup_halfwidths(recent, horizons), lookup_halfwidths(plain, horizons)
    assert 0.9 <= coverage(calm, -half, half) < coverage(calm, -old, old)
    assert np.mean(half) < 0.7 * np.mean(old)


def test_weighted_quantile_keeps_the_new_points_share_of_the_weight():
    from pipelines.intervals import weighted_conformal_halfwidth

    residuals = np.arange(1, 20, dtype=float)
    assert weighted_conformal_halfwidth(residuals, np.ones(19), 0.9) == conformal_halfwidth(residuals, 0.9)
