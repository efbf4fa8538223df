"""`mlops rollback`: point a model's `champion` alias back at the previous champion (or a given version)."""

from __future__ import annotations

import argparse
import sys

from resources.definitions import build_resources
from resources.settings import get_settings


def rollback(args: argparse.Namespace) -> int:
    """Point `champion` back at the previous champion (or at --to-version)."""
    registry = build_resources(get_settings())["mlflow_registry"]
    client = registry.client()
    name = f"{args.pipeline}.{args.task}"
    current = registry.champion(name)
    if current is None:
        print(f"{name} has no champion to roll back", file=sys.stderr)
        return 1
    if args.to_version:
        target = str(client.get_model_version(name, args.to_version).version)
    else:
        promoted = [
            v
            for v in client.search_model_versions(f"name='{name}'")
            if v.tags.get("promoted_at") and str(v.version) != str(current.version)
        ]
        if not promoted:
            print(f"{name}: no earlier champion than version {str(current.version)}", file=sys.stderr)
            return 1
        target = str(max(promoted, key=lambda v: v.tags["promoted_at"]).version)
    client.set_registered_model_alias(name, "champion", target)
    client.set_model_version_tag(name, target, "rolled_back_from", str(current.version))
    print(f"{name}: champion moved from version {str(current.version)} to {target}")
    return 0
