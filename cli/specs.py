"""`mlops spec`: propose a tabular spec from a sample file (unsure points as `# UNSURE:` comments), or
register a spec beside the built-in ones (the code location picks it up on its next load)."""

from __future__ import annotations

import argparse
import sys

from pipelines.spec import SPECS_DIR, SpecError
from pipelines.spec_inference import infer_spec
from resources.clients import object_store
from resources.settings import get_settings
from resources.spec_registry import register_spec


def spec(args: argparse.Namespace) -> int:
    try:
        content = args.file.read_bytes()
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.action == "infer":
        try:
            print(infer_spec(content, args.name).to_yaml(), end="")
        except ValueError as exc:
            print(f"no spec can be proposed for {args.file}: {exc}", file=sys.stderr)
            return 1
        return 0
    settings = get_settings()
    try:
        found = register_spec(
            object_store(settings, settings.landing_uri), content.decode(), settings.specs_dir or SPECS_DIR
        )
    except SpecError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"registered {found.name} ({found.kind}); Dagster and the API pick it up on their next load")
    return 0
