"""What the API asks Dagster, over the webserver's GraphQL API only (never by importing Dagster): the
latest asset-check results of a pipeline, the latest run of its assets, gate messages per run, and why a
run failed. `DagsterUnavailable` names the webserver when it does not answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import httpx

from serving.read_models import CheckResult, PipelineRuns, RunInfo

CHECKS = """
query PipelineChecks {
  assetNodes {
    assetKey { path }
    groupName
    assetChecksOrError {
      __typename
      ... on AssetChecks {
        checks {
          name description blocking
          executionForLatestMaterialization {
            runId status timestamp partition
            evaluation { severity description success timestamp partition }
          }
        }
      }
    }
  }
}
"""
ASSETS = """
query PipelineAssets { assetNodes { assetKey { path } groupName } }
"""
LATEST_RUNS = """
query LatestRuns($keys: [AssetKeyInput!]!) {
  assetsLatestInfo(assetKeys: $keys) {
    assetKey { path }
    inProgressRunIds unstartedRunIds
    latestRun { runId jobName status startTime endTime }
  }
}
"""
CHECK_EXECUTIONS = """
query CheckExecutions($key: AssetKeyInput!, $check: String!, $limit: Int!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: $limit) {
    runId evaluation { description }
  }
}
"""
RUN_EVENTS = """
query RunEvents($runId: ID!, $after: String) {
  logsForRun(runId: $runId, afterCursor: $after, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
        ... on AssetCheckEvaluationEvent {
          evaluation { checkName success severity description assetKey { path } }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""
RELOAD = """
mutation Reload($name: String!) {
  reloadRepositoryLocation(repositoryLocationName: $name) {
    __typename
    ... on WorkspaceLocationEntry {
      locationOrLoadError { __typename ... on PythonError { message } }
    }
    ... on ReloadNotSupported { message }
    ... on RepositoryLocationNotFound { message }
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""
CODE_LOCATION = "mlops_platform"  # workspace.yaml's location_name
STATUS = {
    "SUCCEEDED": "passed",
    "IN_PROGRESS": "in progress",
    "EXECUTION_FAILED": "execution failed",
    "SKIPPED": "skipped",
}


class DagsterUnavailable(Exception):
    """The webserver did not answer, or answered with an error instead of data."""


class DagsterClient:
    """Queries one Dagster webserver (its URL is also where answers link people to its UI)."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self._failures: dict[str, str | None] = {}  # a finished run's failure never changes

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        extra = {"timeout": timeout} if timeout is not None else {}
        try:
            reply = await self.http.post(
                "/graphql", json={"query": query, "variables": variables or {}}, **extra
            )
            reply.raise_for_status()
            body = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DagsterUnavailable(
                f"Dagster at {self.url} did not answer: {type(exc).__name__}: {exc}"
            ) from None
        if body.get("errors") or not isinstance(body.get("data"), dict):
            messages = "; ".join(e.get("message", "") for e in body.get("errors") or [])[:300]
            raise DagsterUnavailable(f"Dagster at {self.url} could not answer: {messages or body}")
        return body["data"]

    def run_url(self, run_id: str) -> str:
        return f"{self.url}/runs/{run_id}"

    def asset_url(self, path: Iterable[str]) -> str:
        return f"{self.url}/assets/{'/'.join(path)}"

    async def reload_code_location(self, name: str = CODE_LOCATION) -> None:
        """Reload the code location (it re-reads every spec); DagsterUnavailable says why it did not."""
        # Reloading imports the code location again (every spec, scikit-learn, …): not a 5 s question.
        found = (await self.query(RELOAD, {"name": name}, timeout=120))["reloadRepositoryLocation"]
        problem = found.get("message") or (found.get("locationOrLoadError") or {}).get("message")
        if found["__typename"] != "WorkspaceLocationEntry" or problem:
            raise DagsterUnavailable(f"Dagster did not reload {name}: {problem or found['__typename']}")

    async def checks(self, pipeline: str) -> list[CheckResult]:
        """The latest result of every check on the pipeline's assets (its Dagster asset group)."""
        data = await self.query(CHECKS)
        out = []
        for node in data["assetNodes"]:
            checks = node["assetChecksOrError"]
            if node["groupName"] != pipeline or checks.get("__typename") != "AssetChecks":
                continue
            asset = "/".join(node["assetKey"]["path"])
            for check in checks["checks"]:
                execution = check.get("executionForLatestMaterialization") or {}
                evaluation = execution.get("evaluation") or {}
                status = execution.get("status")
                if status == "FAILED":
                    verdict = "warning" if evaluation.get("severity") == "WARN" else "failed"
                else:
                    verdict = STATUS.get(status, "not run")
                when = evaluation.get("timestamp") or execution.get("timestamp")
                out.append(
                    CheckResult(
                        asset=asset,
                        check=check["name"],
                        blocking=check["blocking"],
                        status=verdict,
                        description=check.get("description"),
                        message=evaluation.get("description"),
                        partition=evaluation.get("partition") or execution.get("partition"),
                        evaluated_at=dt.datetime.fromtimestamp(when, dt.UTC) if when else None,
                        run_id=execution.get("runId"),
                        run_url=self.run_url(execution["runId"]) if execution.get("runId") else None,
                    )
                )
        return out

    async def runs(self, pipeline: str) -> PipelineRuns:
        """The newest run that touched any asset of the pipeline, and the runs touching them now."""
        nodes = [n for n in (await self.query(ASSETS))["assetNodes"] if n["groupName"] == pipeline]
        keys = [n["assetKey"]["path"] for n in nodes]
        infos = (
            (await self.query(LATEST_RUNS, {"keys": [{"path": k} for k in keys]}))["assetsLatestInfo"]
            if keys
            else []
        )
        runs: dict[str, dict] = {}
        assets: dict[str, list[str]] = {}
        in_progress: list[str] = []
        for info in infos:
            for run_id in [*info["inProgressRunIds"], *info["unstartedRunIds"]]:
                if run_id not in in_progress:
                    in_progress.append(run_id)
            run = info.get("latestRun")
            if run:
                runs[run["runId"]] = run
                assets.setdefault(run["runId"], []).append("/".join(info["assetKey"]["path"]))
        latest = max(runs.values(), key=lambda r: r.get("startTime") or 0, default=None)
        return PipelineRuns(
            pipeline=pipeline,
            dagster_url=self.url,
            asset_urls={"/".join(k): self.asset_url(k) for k in keys},
            latest=None
            if latest is None
            else RunInfo(
                run_id=latest["runId"],
                job=latest["jobName"],
                status=latest["status"].lower(),
                started_at=_time(latest.get("startTime")),
                ended_at=_time(latest.get("endTime")),
                url=self.run_url(latest["runId"]),
                assets=assets[latest["runId"]],
            ),
            in_progress=in_progress,
        )

    async def check_messages(
        self, asset: list[str], checks: Iterable[str], limit: int = 100
    ) -> dict[str, dict[str, str]]:
        """run id → check name → what the check said in that run, for the latest `limit` executions."""
        out: dict[str, dict[str, str]] = {}
        for check in checks:
            data = await self.query(
                CHECK_EXECUTIONS, {"key": {"path": asset}, "check": check, "limit": limit}
            )
            for execution in data["assetCheckExecutions"]:
                description = (execution.get("evaluation") or {}).get("description")
                if description:
                    out.setdefault(execution["runId"], {})[check] = description
        return out

    async def failure(self, run_id: str, max_pages: int = 20) -> str | None:
        """Why a failed run failed, in a sentence or two: the blocking checks that failed with what they
        said, else the failed steps' errors, else the run's own failure message."""
        if run_id in self._failures:
            return self._failures[run_id]
        checks: list[str] = []
        steps: list[str] = []
        run_message: str | None = None
        after = None
        for _ in range(max_pages):
            data = (await self.query(RUN_EVENTS, {"runId": run_id, "after": after}))["logsForRun"]
            if data.get("__typename") != "EventConnection":
                return data.get("message")
            for event in data["events"]:
                kind = event.get("__typename")
                if kind == "AssetCheckEvaluationEvent":
                    evaluation = event["evaluation"]
                    if not evaluation["success"] and evaluation["severity"] == "ERROR":
                        where = "/".join(evaluation["assetKey"]["path"])
                        checks.append(
                            f"check {where} {evaluation['checkName']} failed: {evaluation.get('description')}"
                        )
                elif kind == "ExecutionStepFailureEvent":
                    message = ((event.get("error") or {}).get("message") or "").strip()
                    steps.append(
                        f"step {event.get('stepKey')} failed: {message.splitlines()[0] if message else ''}"
                    )
                elif kind == "RunFailureEvent":
                    run_message = event.get("message")
            if not data["hasMore"]:
                break
            after = data["cursor"]
        found = "; ".join(checks or steps) or run_message
        self._failures[run_id] = found
        return found


def _time(seconds: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None
