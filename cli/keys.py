"""`mlops api-key`: create, revoke and list the prediction API's keys."""

from __future__ import annotations

import argparse
import sys

from serving.auth import KeyFile, add_key, read_keys, write_keys
from serving.config import get_serving_settings


def api_key(args: argparse.Namespace) -> int:
    """Create, revoke or list API keys (SHA-256 hashes in the keys file the service re-reads on change)."""
    path = args.keys_file or get_serving_settings().keys_path()
    keys = read_keys(path)
    if args.action == "list":
        for entry in keys.keys:
            print(f"{entry.name:<24} {','.join(entry.scopes):<16} sha256:{entry.sha256[:12]}…")
        print(f"{len(keys.keys)} key(s) in {path}")
        return 0
    if not args.name:
        print(f"`mlops api-key {args.action}` needs a NAME", file=sys.stderr)
        return 2
    others = [e for e in keys.keys if e.name != args.name]
    if args.action == "revoke":
        if len(others) == len(keys.keys):
            print(f"no key named {args.name!r} in {path}", file=sys.stderr)
            return 1
        write_keys(path, KeyFile(keys=others))
        print(f"revoked {args.name!r}; the service stops accepting it within a second")
        return 0
    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    try:
        key, replaced = add_key(path, args.name, scopes, args.key)
    except ValueError as exc:
        print(f"invalid key: {exc}", file=sys.stderr)
        return 2
    if args.quiet:
        print(key)
    else:
        print(f"{'replaced' if replaced else 'created'} key {args.name!r} ({','.join(scopes)}) in {path}")
        print(f"  {key}")
        print("  (shown once: only its SHA-256 is stored)")
    return 0
