"""The date window options of `materialize` and `land-sample`: --days up to --end (yesterday by default)."""

from __future__ import annotations

import argparse
import datetime as dt


def add_window_options(parser: argparse.ArgumentParser, days: int) -> None:
    parser.add_argument("--days", type=int, default=days, help=f"days up to --end (default {days})")
    parser.add_argument("--start", help="first day, YYYY-MM-DD")
    parser.add_argument("--end", help="last day, YYYY-MM-DD (default: yesterday)")


def date_window(args: argparse.Namespace) -> tuple[dt.date, dt.date]:
    end = (
        dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    )
    start = dt.date.fromisoformat(args.start) if args.start else end - dt.timedelta(days=args.days - 1)
    if start > end:
        raise SystemExit(f"--start {start} is after --end {end}")
    return start, end
