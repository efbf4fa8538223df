"""The Models page's headline figures, read from a version's holdout metrics (no app, no browser)."""

from __future__ import annotations

from ui.format import flat_metrics, headline_metrics


def test_a_forecasts_headline_has_one_row_per_target():
    rows = headline_metrics(
        "regression",
        {
            "holdout.no2.mae": 10.0,
            "holdout.no2.baseline_mae": 20.0,
            "holdout.co.mae": 0.5,
            "holdout.co.coverage": 0.9,
        },
    )
    assert [r["target"] for r in rows] == ["co", "no2"]
    assert rows[1]["skill vs naive"] == "50.0%"


def test_a_tabular_regressions_headline_is_not_empty():
    metrics = {
        "holdout.mae": 3.0,
        "holdout.rmse": 4.0,
        "holdout.baseline_mae": 6.0,
        "holdout.coverage": 0.91,
        "holdout.interval_width": 12.345,
    }
    (row,) = headline_metrics("regression", metrics)
    assert row == {
        "MAE": 3.0,
        "RMSE": 4.0,
        "skill vs mean": "50.0%",
        "coverage": "91.0%",
        "interval width": 12.35,
    }
    assert flat_metrics("regression", metrics)["skill vs mean"] == "50.0%"
