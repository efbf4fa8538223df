"""`mlops rollback`: point a model's champion alias back at the previous champion (or a given version)."""

from __future__ import annotations

import argparse
import sys

from cli import SOURCE
from pipelines.spec import SPECS_DIR, load_specs
from resources.clients import clients_from_settings
from resources.mlflow_registry import PromotionRefused
from resources.promotion import rollback_champion
from resources.settings import get_settings
from resources.unavailable import ServiceUnavailable


def rollback(args: argparse.Namespace) -> int:
    """Point the champion back at the previous champion (or at --to-version) and announce model.promoted."""
    settings = get_settings()
    try:
        spec = load_specs(settings.specs_dir or SPECS_DIR)[args.pipeline]
        task = spec.task(args.task)
    except KeyError as exc:
        print(f"unknown pipeline or task: {exc}", file=sys.stderr)
        return 2
    clients = clients_from_settings(settings, source=SOURCE)
    try:
        done = rollback_champion(clients.registry, clients.events, spec, task, args.to_version)
    except (PromotionRefused, ServiceUnavailable) as exc:
        print(f"not rolled back: {exc}", file=sys.stderr)
        return 1
    finally:
        clients.events.close()
    change = done.change
    print(f"{change.model}: champion moved from version {change.previous} to {change.version}")
    if done.announce_error:
        print(f"model.promoted not announced ({done.announce_error}); APIs swap at their next refresh")
    return 0
