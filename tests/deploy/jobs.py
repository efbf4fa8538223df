"""Small jobs the run-launcher tests launch: importable by module, as a code location's jobs are."""

import os
import sys
import time

import dagster as dg


@dg.op
def report_worker(context: dg.OpExecutionContext) -> None:
    """Tags the run with the process that ran it and whether pandas was already imported there (this
    module does not import it; the warm process does)."""
    context.instance.add_run_tags(
        context.run_id,
        {"test/pid": str(os.getpid()), "test/pandas_preloaded": str("pandas" in sys.modules)},
    )


@dg.op
def wait_for_two_minutes() -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)


@dg.job(executor_def=dg.in_process_executor)
def quick() -> None:
    report_worker()


@dg.job(executor_def=dg.in_process_executor)
def slow() -> None:
    wait_for_two_minutes()
