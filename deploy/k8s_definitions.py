"""The code location on Kubernetes (Dagster's Helm chart, deploy/k8s/values.yaml): the platform's definitions
with every step of every job run as its own pod by dagster-k8s's `k8s_job_executor` (deploy/k8s/executor.yaml).

Compose and the process stack load `definitions`; only the executor differs here."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml
from dagster_k8s import k8s_job_executor

from definitions import build_definitions

EXECUTOR_CONFIG = Path(__file__).resolve().parent / "k8s" / "executor.yaml"


def build_k8s_definitions() -> dg.Definitions:
    executor = k8s_job_executor.configured(yaml.safe_load(EXECUTOR_CONFIG.read_text()), name="k8s_steps")
    return dg.Definitions.merge(build_definitions(), dg.Definitions(executor=executor))


@dg.definitions
def defs() -> dg.Definitions:
    return build_k8s_definitions()
