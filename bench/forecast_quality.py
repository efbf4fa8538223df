"""Forecast quality per target on harder data: what each candidate loss and target transform scores on the
holdout against the seasonal-naive forecast, and how the old (`conformal`) and new (`recent_weighted`)
interval methods cover it and how wide they are.

Data: a landing file made in the field-export format (13 months hourly at one station, multi-day CO
analyser outages so that about a fifth of CO is missing, a noisier winter, the holdout in spring after a
winter calibration period), parsed by the `air_quality_landing` spec as an upload would be; and the
simulator's scenarios, one at a time. No services: the pure pipeline functions, as the assets call them.

    .venv/bin/python bench/forecast_quality.py [--scenarios analyser_outage noisy_winter diurnal_dominated]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.cleaning import clean_readings  # noqa: E402
from pipelines.evaluation import evaluate_candidate  # noqa: E402
from pipelines.features import build_features, current_value_column  # noqa: E402
from pipelines.models import train_forecast_model  # noqa: E402
from pipelines.parsing import format_source_file, parse_source_file  # noqa: E402
from pipelines.simulator import SCENARIOS, simulate_readings  # noqa: E402
from pipelines.spec import ModelCandidate, PipelineSpec, RegressionTask, load_specs  # noqa: E402
from pipelines.training_set import build_training_set  # noqa: E402

# Spring holdout after a winter calibration: 13 months from mid-April (the last 15% is mid-March..mid-May).
START, END = pd.Timestamp("2024-04-15", tz="UTC"), pd.Timestamp("2025-05-16", tz="UTC")
LANDING_SCENARIOS = ("analyser_outage", "noisy_winter")
LOSSES = ("squared_error", "absolute_error")
TRANSFORMS = ("none", "relative_to_trailing_mean", "log1p")


def landing_file(spec: PipelineSpec, seed: int) -> bytes:
    """A single-station export in the spec's declared format (semicolons, decimal commas, -200s)."""
    readings = simulate_readings(["site_1"], START, END, seed, LANDING_SCENARIOS)
    return format_source_file(readings, spec)


def training_set_of(raw: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    return build_training_set(build_features(clean_readings(raw, spec, START, END), spec), spec)


def candidates(shipped: ModelCandidate) -> list[ModelCandidate]:
    return [
        shipped.model_copy(
            update={"name": f"{loss}+{transform}", "loss": loss, "target_transform": transform}
        )
        for loss in LOSSES
        for transform in TRANSFORMS
    ]


def report(title: str, training_set: pd.DataFrame, spec: PipelineSpec, task: RegressionTask) -> None:
    print(f"\n=== {title} ===")
    rows = training_set["split"].value_counts()
    holdout = training_set[training_set["split"] == "holdout"][spec.timestamp_column]
    calibration = training_set[training_set["split"] == "calibration"][spec.timestamp_column]
    print(
        f"rows: train {rows.get('train', 0)}, calibration {rows.get('calibration', 0)} "
        f"({calibration.min():%Y-%m-%d}..{calibration.max():%Y-%m-%d}), holdout {rows.get('holdout', 0)} "
        f"({holdout.min():%Y-%m-%d}..{holdout.max():%Y-%m-%d})"
    )
    missing = {t: float(training_set[current_value_column(t)].isna().mean()) for t in task.targets}
    print("missing current value: " + ", ".join(f"{t} {m:.1%}" for t, m in missing.items()))
    print(
        f"{'candidate (loss+transform)':<40} "
        + " ".join(f"{t + ' MAE':>10} {t + ' skill':>10}" for t in task.targets)
    )
    shipped = task.candidates[0]
    baseline_line = None
    for candidate in candidates(shipped):
        one = task.model_copy(update={"candidates": [candidate], "interval_method": "conformal"})
        model, _ = train_forecast_model(training_set, spec, one, [candidate])
        metrics = evaluate_candidate(model, training_set, one).metrics
        baseline_line = baseline_line or " ".join(
            f"{metrics[f'{t}.baseline_mae']:>10.3f} {'':>10}" for t in task.targets
        )
        cells = " ".join(
            f"{metrics[f'{t}.mae']:>10.3f} {1 - metrics[f'{t}.mae'] / metrics[f'{t}.baseline_mae']:>+10.1%}"
            for t in task.targets
        )
        print(f"{candidate.name:<40} {cells}")
    print(f"{'seasonal naive':<40} {baseline_line}")

    print(
        "\nthe spec's candidates compete on the calibration split: "
        + ", ".join(f"{c.name} (loss {c.loss}, transform {c.target_transform})" for c in task.candidates)
    )
    print(f"{'interval method':<18} {'target':<6} {'source':<9} {'served MAE':>10} {'skill':>7} "
          f"{'model cov':>9} {'width':>8} {'base cov':>9} {'width':>8} {'served cov':>10} {'width':>8}")  # fmt: skip
    served: dict[str, dict[str, float]] = {}
    for method in ("conformal", "recent_weighted"):
        one = task.model_copy(update={"interval_method": method, "per_target_sources": True})
        model, trained = train_forecast_model(training_set, spec, one)
        print(f"  {method}: {trained.chosen} chosen (calibration scores {trained.scores})")
        verdict = evaluate_candidate(model, training_set, one)
        m = served[method] = verdict.metrics
        for t in task.targets:
            source = verdict.sources[t][0]
            skill = 1 - m[f"{t}.served_mae"] / m[f"{t}.baseline_mae"]
            print(
                f"{method:<18} {t:<6} {source:<9} {m[f'{t}.served_mae']:>10.3f} {skill:>+7.1%} "
                f"{m[f'{t}.coverage']:>9.1%} {m[f'{t}.interval_width']:>8.3g} "
                f"{m[f'{t}.baseline_coverage']:>9.1%} {m[f'{t}.baseline_interval_width']:>8.3g} "
                f"{m[f'{t}.served_coverage']:>10.1%} {m[f'{t}.served_interval_width']:>8.3g}"
            )
        for t, (source, why) in verdict.sources.items():
            print(f"  {method}: {t} → {source}: {why}")
    old = served["conformal"]
    for method, new in served.items():
        for t in task.targets:
            goals = {
                "served": True,  # every target is, by the model or the baseline
                "not worse than naive": new[f"{t}.served_mae"] <= new[f"{t}.baseline_mae"],
                "model skill >= 10%": 1 - new[f"{t}.mae"] / new[f"{t}.baseline_mae"] >= 0.10,
                "coverage 90% +- 3%": abs(new[f"{t}.served_coverage"] - 0.9) <= 0.03,
                "width <= conformal's": new[f"{t}.served_interval_width"]
                <= old[f"{t}.served_interval_width"],
            }
            print(
                f"  goal {t} ({method}): "
                + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in goals.items())
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS), help="simulator scenarios to run")
    parser.add_argument("--stations", type=int, default=1, help="stations per simulator scenario")
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args()
    spec = load_specs()["air_quality_landing"]
    task = next(t for t in spec.tasks if isinstance(t, RegressionTask))
    began = time.perf_counter()

    content = landing_file(spec, args.seed)
    raw = parse_source_file(content, "field_export.csv", spec)
    co_missing = float((raw["co"] == -200).mean() + raw["co"].isna().mean())
    print(
        f"landing file: {len(content) / 1e6:.1f} MB, {len(raw)} rows, CO missing or -200 in {co_missing:.1%}"
    )
    report("landing file (field-export format, air_quality_landing)", training_set_of(raw, spec), spec, task)

    stations = [f"site_{i}" for i in range(1, args.stations + 1)]
    for scenario in args.scenarios:
        raw = simulate_readings(stations, START, END, args.seed, [scenario])
        report(
            f"simulator scenario {scenario} ({len(stations)} stations)",
            training_set_of(raw, spec),
            spec,
            task,
        )
    print(f"\n{time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
