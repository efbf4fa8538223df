"""Benchmark: materializing the air_quality graph vs a plain pandas + scikit-learn script on the same data.

Each measurement runs in a fresh subprocess (so peak memory is its own): the platform path is
`mlops materialize` on the local profile (Dagster in process, lake, checks, MLflow registry); the baseline
is bench/plain_pipeline.py. Wall time is from launching the process to the end of its work, imports
included on both sides (a person runs either as one command); the champion look-up for the MAE column
comes after. Prints wall time, the ratio (goal ≤ 1.5×), peak RSS, and holdout NO2 MAE of
both (to show they trained the same model), for 1×, 4× and 16× the station count.

A shared machine's speed drifts within minutes, which moves a single short ratio at 1× by more than most
changes do. So at 1× the two run in turns, `--repeats` pairs (default 3), and the figures are medians:
wall times, and the ratio of each back-to-back pair. Larger scales run one pair (long enough for the drift
to average out within a run).

The platform side is `mlops materialize` as a person runs it: its runs go to the Dagster instance under
the data dir (deploy/env.py), not an ephemeral one.

    .venv/bin/python bench/materialize_vs_script.py [--stations 20] [--days 365] [--scales 1,4,16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = dt.date(2024, 1, 1)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_platform(stations: int, days: int) -> dict:
    import yaml

    work = Path(tempfile.mkdtemp(prefix="bench-platform-"))
    spec = yaml.safe_load((ROOT / "pipelines" / "specs" / "air_quality.yaml").read_text())
    spec["source"]["stations"] = stations
    (work / "specs").mkdir()
    (work / "specs" / "air_quality.yaml").write_text(yaml.safe_dump(spec))
    os.environ.update(
        MLOPS_PROFILE="local", MLOPS_DATA_DIR=str(work / "data"), MLOPS_SPECS_DIR=str(work / "specs")
    )
    os.environ.pop("DAGSTER_HOME", None)
    from cli.main import main as mlops
    from pipelines.keys import PipelineKeys
    from pipelines.spec import load_specs
    from resources.clients import clients_from_settings
    from resources.settings import get_settings

    end = START + dt.timedelta(days=days - 1)
    code = mlops(["materialize", "--start", START.isoformat(), "--end", end.isoformat()])
    done_at = time.time()
    registry = clients_from_settings(get_settings()).registry
    spec = load_specs(work / "specs")["air_quality"]
    champion = registry.champion(PipelineKeys(spec).model_name(spec.task("forecast")))
    metrics = registry.get_run(champion.run_id).data.metrics if champion else {}
    return {
        "ok": code == 0,
        "done_at": done_at,
        "peak_mb": _peak_mb(),
        "no2_mae": metrics.get("holdout.no2.mae"),
    }


def child_plain(stations: int, days: int) -> dict:
    from bench.plain_pipeline import run

    result = run(stations, days)
    return {
        "ok": True,
        "done_at": time.time(),
        "peak_mb": _peak_mb(),
        "no2_mae": result["no2.mae"],
    }


def measure(kind: str, stations: int, days: int) -> dict:
    launched_at = time.time()
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--stations", str(stations), "--days", str(days)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{kind} run failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result = json.loads(lines[-1])
    return {**result, "wall": result["done_at"] - launched_at}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--repeats", type=int, default=3, help="platform/plain pairs at 1×")
    parser.add_argument("--child", choices=["platform", "plain"])
    args = parser.parse_args()
    if args.child:
        run = child_platform if args.child == "platform" else child_plain
        print(json.dumps(run(args.stations, args.days)))
        return

    print(
        f"air_quality: {args.days} days hourly, platform = `mlops materialize` (local profile), baseline = plain script"
    )
    header = f"{'stations':>8} {'hours':>10} {'platform s':>11} {'plain s':>8} {'ratio':>6} {'platform MB':>12} {'plain MB':>9} {'NO2 MAE platform/plain':>23}  ratio of each pair"
    print(header)
    for scale in (int(s) for s in args.scales.split(",")):
        stations = args.stations * scale
        pairs = [
            (measure("platform", stations, args.days), measure("plain", stations, args.days))
            for _ in range(args.repeats if scale == 1 else 1)
        ]
        ratios = [platform["wall"] / plain["wall"] for platform, plain in pairs]
        platform, plain = pairs[-1]
        flag = "" if all(p["ok"] for p, _ in pairs) else "  (platform run reported a failed gate)"
        print(
            f"{stations:>8} {stations * args.days * 24:>10,} {statistics.median(p['wall'] for p, _ in pairs):>11.1f} "
            f"{statistics.median(q['wall'] for _, q in pairs):>8.1f} {statistics.median(ratios):>5.2f}x "
            f"{max(p['peak_mb'] for p, _ in pairs):>12.0f} {max(q['peak_mb'] for _, q in pairs):>9.0f} "
            f"{platform['no2_mae'] or float('nan'):>11.2f} / {plain['no2_mae']:<9.2f}"
            f"  {', '.join(f'{r:.2f}' for r in ratios)}{flag}",
            flush=True,
        )
    print("goal: ratio ≤ 1.5x at 20 stations × 365 days (the median of the pairs)")


if __name__ == "__main__":
    main()
