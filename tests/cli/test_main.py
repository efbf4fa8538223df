"""`mlops` itself: quick to start, -v anywhere, the commands README lists."""

from __future__ import annotations

import subprocess
import sys

from cli.main import build_parser


def test_quick_commands_do_not_import_dagster_mlflow_or_pandas():
    done = subprocess.run(
        [sys.executable, "-c", "import sys, cli.main; print(sorted({'dagster', 'mlflow', 'pandas'} & set(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_verbose_is_accepted_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["-v", "materialize"]).verbose
    assert parser.parse_args(["materialize", "--verbose"]).verbose
    assert not hasattr(parser.parse_args(["materialize"]), "verbose")  # main() reads it as False


def test_every_command_names_a_function_that_exists():
    import importlib

    parser = build_parser()
    for argv in (
        ["materialize"], ["rollback", "p"], ["stack", "status"], ["up"], ["land-sample", "p"], ["serve"],
        ["api-key", "list"], ["publish", "dataset.landed", "--payload", "{}"],
    ):  # fmt: skip
        module, _, function = parser.parse_args(argv).run.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), argv
