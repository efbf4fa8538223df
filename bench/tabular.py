"""Figures of the example tabular pipeline (census_income) on a simulated messy export, offline:

- holdout metrics of the champion vs the majority-class / prior baseline;
- expected calibration error before and after recalibration (calibration split's second half, and holdout);
- coverage and mean size of the conformal prediction sets at the spec's level;
- metrics per slice (sex, age band);
- time from upload (API, local profile, in process) to a served champion: the `dataset.landed` event is
  turned into its run request by the same function the sensor uses, and the run executes in process;
- what the hyper-parameter search found vs the default parameters, for the same candidate.

    .venv/bin/python bench/tabular.py [--rows 8000] [--trials 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def figures(rows: int, trials: int) -> None:
    from sklearn.calibration import CalibratedClassifierCV

    from pipelines.census_simulator import census_csv, simulate_census
    from pipelines.spec import SearchSpec, load_specs
    from pipelines.tabular_evaluation import classification_metrics, evaluate_tabular
    from pipelines.tabular_models import (
        ClassIndexed,
        TabularModel,
        split_rows,
        target_index,
        train_tabular_model,
    )
    from pipelines.tabular_parsing import clean_table, read_table

    spec = load_specs()["census_income"]
    task = spec.tasks[0]
    raw = read_table(census_csv(simulate_census(rows, seed=11), seed=11), "census.csv", spec)
    clean, invalid = clean_table(raw, spec, task.target)
    data = split_rows(clean, spec, task)
    print(f"rows: {len(raw)} raw, {len(clean)} clean; split {data['split'].value_counts().to_dict()}")
    print(f"unusable values per column: { {k: v for k, v in invalid.items() if v} or 'none' }")

    began = time.perf_counter()
    model, report = train_tabular_model(data, spec, task)
    print(f"\ntraining: {time.perf_counter() - began:.1f} s; chosen {report.chosen}; calibration log_loss "
          + ", ".join(f"{k} {v:.4f}" for k, v in report.scores.items()))  # fmt: skip
    verdict = evaluate_tabular(model, data, spec, task)
    m = verdict.metrics
    print("\nholdout (champion vs prior/majority baseline)")
    for name in ("log_loss", "brier", "accuracy"):
        print(f"  {name:<10} {m[name]:.4f}  baseline {m[f'baseline_{name}']:.4f}")
    print(f"  roc_auc    {m['roc_auc']:.4f}  baseline 0.5000")
    print("  gates: " + ", ".join(f"{g.name} {'passed' if g.passed else 'FAILED'}" for g in verdict.gates))

    holdout = data[data["split"] == "holdout"]
    y = target_index(holdout[task.target], model.classes)
    inner = model.estimator.estimator
    raw_pipeline = inner.estimator.estimator if isinstance(inner, CalibratedClassifierCV) else inner
    unrecalibrated = TabularModel(
        ClassIndexed(raw_pipeline, len(model.classes)),
        model.kind,
        model.input_columns,
        model.classes,
        model.level,
        0,
    )
    before = classification_metrics(y, unrecalibrated.probabilities(holdout), None)["calibration_error"]
    print("\nexpected calibration error")
    print(f"  calibration half: before {report.details['calibration_ece_before']:.4f}, after "
          f"{report.details.get('calibration_ece_after', float('nan')):.4f}; recalibrated: {bool(report.details['recalibrated'])}")  # fmt: skip
    print(
        f"  holdout: uncalibrated {before:.4f}, served {m['calibration_error']:.4f} (limit {task.max_calibration_error})"
    )
    print(
        f"\nconformal sets at {task.level:.0%}: coverage {m['set_coverage']:.3f}, mean size {m['set_size']:.3f}"
    )

    print("\nper slice (holdout)")
    print(f"  {'slice':<20} {'rows':>6} {'log_loss':>9} {'accuracy':>9} {'ECE':>7} {'set cov.':>9}")
    for name, s in verdict.slices.items():
        print(f"  {name:<20} {int(s['rows']):>6} {s['log_loss']:>9.4f} {s['accuracy']:>9.4f} "
              f"{s['calibration_error']:>7.4f} {s['set_coverage']:>9.3f}")  # fmt: skip
    print(
        f"  slice check: {'passed' if verdict.slice_check.passed else 'WARNS'}: {verdict.slice_check.description}"
    )

    print(f"\nsearch vs default ({trials} trials, TPE seeded)")
    spaces = {
        "logistic": {"C": {"low": 0.001, "high": 100.0, "log": True}},
        "gradient_boosting": {
            "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
            "max_leaf_nodes": {"low": 4, "high": 63, "integer": True},
            "l2_regularization": {"low": 0.0, "high": 5.0},
        },
    }
    for name, space in spaces.items():
        base = next(c for c in task.candidates if c.name == name)
        default_task = task.model_copy(update={"candidates": [base]})
        searched = task.model_copy(
            update={
                "candidates": [
                    base.model_copy(update={"search": SearchSpec(space=space, trials=trials, seed=0)})
                ]
            }
        )
        t0 = time.perf_counter()
        d_model, d_report = train_tabular_model(data, spec, default_task)
        t1 = time.perf_counter()
        s_model, s_report = train_tabular_model(data, spec, searched)
        t2 = time.perf_counter()
        d_hold = evaluate_tabular(d_model, data, spec, default_task).metrics
        s_hold = evaluate_tabular(s_model, data, spec, searched).metrics
        print(f"  {name}: default {base.params}")
        print(f"    calibration log_loss {d_report.scores[name]:.4f}, holdout log_loss {d_hold['log_loss']:.4f}, "
              f"accuracy {d_hold['accuracy']:.4f} ({t1 - t0:.1f} s)")  # fmt: skip
        found = {
            k: (round(v, 4) if isinstance(v, float) else v) for k, v in s_report.params.items() if k in space
        }
        print(f"  {name}: searched {found}")
        print(f"    calibration log_loss {s_report.scores[name]:.4f}, holdout log_loss {s_hold['log_loss']:.4f}, "
              f"accuracy {s_hold['accuracy']:.4f} ({t2 - t1:.1f} s, {len(s_report.trials[name])} trials)")  # fmt: skip


def upload_to_champion(rows: int) -> None:
    """Local profile in a temp dir, file events: upload through the API, the event's run request (the
    sensor's function), the run in process, then predictions until the API serves the new champion."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            MLOPS_PROFILE="local",
            MLOPS_DATA_DIR=str(Path(tmp) / "data"),
            MLOPS_API_DAGSTER_URL="http://127.0.0.1:9",
        )
        import dagster as dg
        from fastapi.testclient import TestClient

        from definitions import build_definitions
        from events.envelope import parse_event
        from pipelines.census_simulator import census_csv, simulate_census
        from resources.clients import clients_from_settings
        from resources.settings import get_settings
        from resources.spec_registry import load_all_specs
        from sensors.event_requests import run_request_for
        from serving.auth import add_key
        from serving.config import get_serving_settings
        from serving.main import create_app

        settings = get_settings()
        clients = clients_from_settings(settings)
        key, _ = add_key(get_serving_settings().keys_path(), "bench", ["admin", "predict"])
        defs = build_definitions()
        content = census_csv(simulate_census(rows, seed=12), seed=12)
        row = {"age": 45, "education": "Bachelors", "sex": "Female", "hours_per_week": 40}
        with (
            TestClient(create_app(), headers={"X-API-Key": key}) as api,
            dg.instance_for_test(temp_dir=tmp) as instance,
        ):
            began = time.perf_counter()
            accepted = api.post(
                "/v1/pipelines/census_income/datasets", files={"file": ("adult.csv", content, "text/csv")}
            )
            assert accepted.status_code == 202, accepted.text
            events = (settings.data_path / "events.jsonl").read_text().splitlines()
            line = next(ln for ln in events if accepted.json()["task_id"] in ln)
            request = run_request_for(
                parse_event(line), load_all_specs(landing=clients.landing).specs, clients.landing
            )
            config = {k: v for k, v in request.run_config.items() if k != "execution"}
            run_began = time.perf_counter()
            result = defs.resolve_job_def(request.job_name).execute_in_process(
                run_config=config, instance=instance, tags=request.tags
            )
            run_done = time.perf_counter()
            while True:
                answer = api.post("/v1/pipelines/census_income/predict", json={"rows": [row]})
                if answer.status_code == 200 or time.perf_counter() - run_done > 120:
                    break
                time.sleep(0.2)
            served = time.perf_counter()
        print(
            f"\nupload → champion ({rows} rows, local profile, run in process): run {'succeeded' if result.success else 'FAILED'}"
        )
        print(f"  upload accepted and event read: {run_began - began:.2f} s")
        print(f"  run (raw → clean → split → 3 candidates → gates → alias): {run_done - run_began:.1f} s")
        print(f"  until the API served it: {served - run_done:.1f} s (status {answer.status_code})")
        print(f"  total upload → served champion: {served - began:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    figures(args.rows, args.trials)
    upload_to_champion(args.rows)


if __name__ == "__main__":
    main()
