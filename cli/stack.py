"""`mlops stack up|stop|status|env` and `mlops up`: the platform's processes (deploy/services.py)."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path

from deploy.env import StackError, data_dir, load_env
from deploy.services import dagster_home, stack_for_profile, state_dir_for
from deploy.supervisor import running_pids, stop_recorded
from serving.auth import add_key, read_keys


def _first_api_key(profile: str, env: dict[str, str]) -> None:
    """Locally, a first start gets a `dev` key (all scopes) kept in a file beside the keys, so the API is
    usable at once; with services, keys are created deliberately (`mlops api-key create`)."""
    keys_file = Path(env.get("MLOPS_API_KEYS_FILE") or data_dir(env) / "api" / "keys.yaml")
    if read_keys(keys_file).keys:
        return
    if profile != "local":
        print(f"the API has no keys yet ({keys_file}): `mlops api-key create NAME --scopes predict[,admin]`")
        return
    key, _ = add_key(keys_file, "dev", ["predict", "admin"])
    saved = keys_file.parent / "dev-key"
    saved.write_text(key + "\n")
    saved.chmod(0o600)
    print(f"API key 'dev' (predict, admin) created for this data dir: {key}  (also in {saved})")


def stack(args: argparse.Namespace) -> int:
    """Start, stop or inspect the platform's processes; `up` blocks until Ctrl-C."""
    env = {**load_env(args.env_file), "MLOPS_PROFILE": args.profile}
    state = state_dir_for(args.profile, env)
    if args.action == "env":
        env["DAGSTER_HOME"] = str(dagster_home(args.profile, env, state))
        print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
        return 0
    if args.action == "stop":
        stopped = stop_recorded(state)
        print(f"{args.profile} stack: stopped {stopped} service(s)")
        return 0
    if args.action == "status":
        running = running_pids(state / "pids.json")
        for name, entry in running.items():
            print(f"  {name:<18} pid {entry['pid']}")
        print(f"{args.profile} stack: {len(running)} service(s) running; logs in {state / 'logs'}")
        return 0 if running else 1

    _first_api_key(args.profile, env)
    began = time.perf_counter()
    stack_ = stack_for_profile(args.profile, env)
    print(f"starting the {args.profile} stack; logs in {stack_.logs}", flush=True)
    try:
        stack_.start()
    except StackError as exc:
        print(f"stack failed to start: {exc}", file=sys.stderr)
        return 1
    print(f"all healthy in {time.perf_counter() - began:.1f} s", flush=True)
    if args.detach:
        print(f"`mlops stack stop --profile {args.profile}` stops it")
        return 0
    print("Ctrl-C stops everything", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        exited = stack_.wait()
        print(f"{exited} exited (see {stack_.logs / exited}.log); stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack_.stop()
