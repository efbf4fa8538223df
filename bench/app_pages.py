"""Benchmark: time to a fully rendered page of the analyst app in a real browser, cold and warm.

For each station count (default 5 and 20): a fresh data dir where `mlops materialize --pipeline air_quality`
simulates `--days` days of that many stations and trains the models; the API and the Dagster webserver
start on it (local profile, free ports); then Debian's chromium (Playwright) opens the app's pages.

- cold: a freshly started `streamlit run` (nothing imported or cached yet) and its first visitor;
- warm: the same browser opening the page again in a new tab (a new Streamlit session), so Streamlit's
  caches hold the answers keyed on the versions the API reports and the browser has the app's scripts.

"Rendered" is what a person waits for: Streamlit reports the script stopped (`data-test-script-state=
notRunning`), no skeleton is left, and every chart has drawn. Baseline in the same run: a one-line
Streamlit page on the same server settings, cold and warm; figures are medians of `--repeat` visits, with
their ratio to the baseline. Goals: warm Forecast ≤ 1 s at 20 stations; no page above 3 s cold.

    .venv/bin/python bench/app_pages.py [--stations 5 20] [--days 60] [--repeat 3] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.spec import SPECS_DIR  # noqa: E402
from tests.serving.conftest import api_env, mlops, start_api  # noqa: E402
from tests.ui.browser import StreamlitServer, chromium, wait_rendered  # noqa: E402

PAGES = {"Overview": "overview", "Forecast": "forecast"}
CHARTS_DRAWN = """() => [...document.querySelectorAll('.vega-embed')]
    .every(e => e.querySelector('svg, canvas'))"""
BASELINE = 'import streamlit as st\n\nst.title("Baseline")\nst.write("one line of text")\n'


def visit(context, url: str) -> float:
    """Seconds from navigation to a fully rendered page, in a new tab (a new Streamlit session)."""
    page = context.new_page()
    try:
        began = time.perf_counter()
        page.goto(url)
        wait_rendered(page, 120_000)
        page.wait_for_function(CHARTS_DRAWN, timeout=120_000)
        return time.perf_counter() - began
    finally:
        page.close()


def launch(api_url: str, key: str, log: Path, script: Path | None = None) -> StreamlitServer:
    return StreamlitServer(api_url, key, log, script=script).start()


def measure(browser, start_server, url_of, repeat: int) -> tuple[list[float], list[float]]:
    """(cold times, warm times). Each round: a fresh server and a fresh browser profile (nothing cached
    anywhere) for the cold visit; then the same browser opens the page in a new tab, as an analyst
    coming back to it does (a new Streamlit session; the app's caches and the browser's are warm)."""
    cold, warm = [], []
    for _ in range(repeat):
        server = start_server()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            cold.append(visit(context, url_of(server)))
            warm.append(visit(context, url_of(server)))
        finally:
            context.close()
            server.stop()
    return cold, warm


def prepared(root: Path, stations: int, days: int) -> tuple[dict[str, str], str]:
    """A data dir with `stations` simulated stations trained over `days` days; (env, admin key)."""
    specs = root / "specs"
    specs.mkdir(parents=True)
    spec = yaml.safe_load((SPECS_DIR / "air_quality.yaml").read_text())
    spec["source"]["stations"] = stations
    (specs / "air_quality.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    env = api_env(root, MLOPS_SPECS_DIR=str(specs), MLOPS_EVENTS_BACKEND="file", MLOPS_API_WORKERS="1")
    (root / "dagster").mkdir()
    end = dt.date.today() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    began = time.perf_counter()
    mlops(
        env,
        "materialize",
        "--pipeline",
        "air_quality",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
    )
    print(
        f"  {stations} stations × {days} days materialized in {time.perf_counter() - began:.0f} s", flush=True
    )
    key = mlops(env, "api-key", "create", "bench", "--scopes", "admin", "--quiet").strip()
    return env, key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    baseline_script = work / "baseline.py"
    baseline_script.write_text(BASELINE)
    rows = []
    try:
        with chromium() as browser:
            for stations in args.stations:
                root = work / f"s{stations}"
                env, key = prepared(root, stations, args.days)
                stack = start_api(env, root / "stack", with_dagster=True)
                api_url = f"http://127.0.0.1:{env['API_PORT']}"
                app = functools.partial(launch, api_url, key, root / "streamlit.log")
                try:
                    base = measure(
                        browser, functools.partial(app, baseline_script), lambda s: s.url(), args.repeat
                    )
                    rows.append((stations, "Baseline (one line)", *base, base))
                    for title, page in PAGES.items():
                        times = measure(browser, app, lambda s, p=page: s.url(p), args.repeat)
                        rows.append((stations, title, *times, base))
                finally:
                    stack.stop(report=lambda line: None)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"\nTime to a fully rendered page (median of {args.repeat}; × = ratio to the baseline page, same run)"
    )
    print(f"{'stations':>8}  {'page':<20} {'cold s':>7} {'×':>5} {'warm s':>7} {'×':>5}")
    worst_cold, warm_forecast_20 = 0.0, None
    for stations, title, cold, warm, (base_cold, base_warm) in rows:
        c, w = statistics.median(cold), statistics.median(warm)
        bc, bw = statistics.median(base_cold), statistics.median(base_warm)
        print(f"{stations:>8}  {title:<20} {c:>7.2f} {c / bc:>5.1f} {w:>7.2f} {w / bw:>5.1f}")
        if not title.startswith("Baseline"):
            worst_cold = max(worst_cold, c)
            if title == "Forecast" and stations == max(args.stations):
                warm_forecast_20 = w
    print(
        f"\ngoal warm Forecast ≤ 1 s at {max(args.stations)} stations: "
        f"{warm_forecast_20:.2f} s {'met' if warm_forecast_20 <= 1 else 'MISSED'}; "
        f"goal no page > 3 s cold: slowest {worst_cold:.2f} s {'met' if worst_cold <= 3 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
