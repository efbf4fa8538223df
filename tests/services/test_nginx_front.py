"""Nginx in front of the process stack (`mlops stack up --profile services`), from the same template as
Compose: TLS with the dev certificate, consoles behind basic auth, the API under /api/ with its rate limit
and body limits answered as problem+json, Dagster's GraphQL (and its WebSocket subscriptions) under
/dagster/, MLflow under /mlflow/, the analyst app under /app/, and the S3 API on its own TLS port."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import ssl
import time
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from deploy.services import http_ok

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def front(services):
    """The stack's nginx: its HTTPS base URL, the dev certificate to trust, and the console credentials."""
    env = services.env
    cert = services.stack.state / "nginx" / "tls" / "cert.pem"
    return {
        "url": f"https://localhost:{env['NGINX_HTTPS_PORT']}",
        "port": int(env["NGINX_HTTPS_PORT"]),
        "cert": cert,
        "auth": (env["CONSOLE_USER"], env["CONSOLE_PASSWORD"]),
        "env": env,
    }


@pytest.fixture(scope="module")
def https(front):
    with httpx.Client(
        base_url=front["url"], verify=ssl.create_default_context(cafile=front["cert"])
    ) as client:
        yield client


def tls_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def test_tls_handshake_uses_the_dev_certificate_and_http_redirects_to_https(front):
    import socket

    with (
        socket.create_connection(("localhost", front["port"]), timeout=5) as raw,
        tls_context(front["cert"]).wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        subject = dict(item for rdn in tls.getpeercert()["subject"] for item in rdn)
        assert subject["commonName"] == "localhost"
    # Without the dev certificate as trust anchor the handshake is refused: TLS is real, not decorative.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{front['url']}/api/healthz")

    plain = httpx.get(f"http://localhost:{front['env']['NGINX_HTTP_PORT']}/api/healthz?x=1")
    assert plain.status_code == 301
    assert plain.headers["location"] == f"https://localhost:{front['port']}/api/healthz?x=1"


def test_consoles_answer_401_without_credentials_and_200_with_them(front, https):
    for path in ("/dagster/", "/mlflow/", "/rabbitmq/", "/minio/"):
        refused = https.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic"), path
        assert https.get(path, auth=(front["auth"][0], "wrong")).status_code == 401, path

    dagster = https.get("/dagster/server_info", auth=front["auth"])
    assert dagster.status_code == 200
    assert "dagster_webserver_version" in dagster.json()

    mlflow = https.get("/mlflow/", auth=front["auth"])
    assert mlflow.status_code == 200 and "<title>MLflow</title>" in mlflow.text
    # The UI's own requests are relative to /mlflow/: its script and its ajax API both answer there.
    script = mlflow.text.split('src="', 1)[1].split('"', 1)[0]
    assert https.get(f"/mlflow/{script}", auth=front["auth"]).status_code == 200
    experiments = https.post(
        "/mlflow/ajax-api/2.0/mlflow/experiments/search", json={"max_results": 5}, auth=front["auth"]
    )
    assert experiments.status_code == 200, experiments.text
    assert "experiments" in experiments.json()
    for header in ("strict-transport-security", "x-content-type-options", "x-frame-options"):
        assert header in mlflow.headers


def test_api_is_served_under_api_with_its_docs_and_request_ids(https):
    health = https.get("/api/healthz", headers={"X-Request-ID": "front-door-1"})
    assert health.status_code == 200
    assert health.headers["x-request-id"] == "front-door-1"
    assert https.get("/api/openapi.json").json()["servers"] == [{"url": "/api"}]
    assert https.get("/api/docs").status_code == 200

    unauthorized = https.get("/api/v1/pipelines")
    assert unauthorized.status_code == 401
    assert unauthorized.headers["content-type"] == "application/problem+json"


def test_dagster_graphql_and_its_websocket_subscriptions_work_through_dagster(front, https):
    query = https.post("/dagster/graphql", json={"query": "{ version }"}, auth=front["auth"])
    assert query.status_code == 200 and query.json()["data"]["version"]

    url = f"wss://localhost:{front['port']}/dagster/graphql"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, ssl=tls_context(front["cert"]), subprotocols=["graphql-ws"], open_timeout=10)
    assert refused.value.response.status_code == 401

    token = httpx.BasicAuth(*front["auth"])._auth_header
    run_id = str(uuid.uuid4())
    subscription = (
        "subscription Logs($runId: ID!) { pipelineRunLogs(runId: $runId) { __typename "
        "... on PipelineRunLogsSubscriptionFailure { message missingRunId } } }"
    )
    with connect(
        url,
        ssl=tls_context(front["cert"]),
        subprotocols=["graphql-ws"],
        additional_headers={"Authorization": token},
        open_timeout=10,
    ) as ws:
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "start",
                    "payload": {"query": subscription, "variables": {"runId": run_id}},
                }
            )
        )
        message = json.loads(ws.recv(timeout=20))
    assert message["type"] == "data", message
    payload = message["payload"]["data"]["pipelineRunLogs"]
    assert payload["__typename"] == "PipelineRunLogsSubscriptionFailure"
    assert payload["missingRunId"] == run_id


def test_predict_is_rate_limited_per_client_with_a_problem_json_429(front, https):
    burst = int(front["env"]["NGINX_PREDICT_BURST"])

    def predict(_: int) -> httpx.Response:
        return https.post("/api/v1/pipelines/air_quality/predict", json={"rows": []})

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(predict, range(burst * 3)))
    limited = [r for r in answers if r.status_code == 429]
    passed = [r for r in answers if r.status_code != 429]
    assert limited, f"no 429 among {len(answers)} requests: {sorted({r.status_code for r in answers})}"
    # What got through reached the API (no key: its own 401), at least the burst.
    assert len(passed) >= burst and {r.status_code for r in passed} == {401}
    problem = limited[0]
    assert problem.headers["content-type"] == "application/problem+json"
    assert problem.headers["retry-after"] == "1"
    body = problem.json()
    assert body["status"] == 429 and body["instance"] == "/api/v1/pipelines/air_quality/predict"
    assert body["request_id"]

    time.sleep(burst / 20 + 1)  # the bucket refills; other routes were never limited
    assert https.get("/api/healthz").status_code == 200


def test_an_upload_over_the_api_limit_is_refused_by_nginx_with_413_problem_json(front):
    limit = int(front["env"].get("MLOPS_API_MAX_UPLOAD_BYTES", 64 * 1024 * 1024))
    connection = http.client.HTTPSConnection(
        "localhost", front["port"], context=tls_context(front["cert"]), timeout=10
    )
    try:
        connection.putrequest("POST", "/api/v1/pipelines/air_quality_landing/datasets")
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(limit + 1))
        connection.endheaders()  # the body never needs to be sent: nginx answers from the header
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/problem+json"
    assert body["status"] == 413 and str(limit) in body["detail"]


def test_the_analyst_app_is_served_with_its_websocket_and_a_stopped_one_answers_502(front, https, services):
    assert https.get("/app/_stcore/health").text == "ok"  # the stack's app, under server.baseUrlPath=app
    assert "<title>Streamlit</title>" in https.get("/app/").text
    with connect(
        f"wss://localhost:{front['port']}/app/_stcore/stream",
        ssl=tls_context(front["cert"]),
        subprotocols=["streamlit"],
        origin=front["url"],
        open_timeout=10,
    ) as ws:
        assert ws.response.status_code == 101

    services.stack.stop_service("app")
    try:
        assert https.get("/app/").status_code == 502  # nginx resolves upstreams per request: it stays up
        assert http_ok(f"http://127.0.0.1:{front['env']['NGINX_STATUS_PORT']}/healthz")
    finally:
        services.stack.start_service("app")
    assert https.get("/app/_stcore/health").text == "ok"


def test_any_s3_client_reaches_the_object_store_through_the_s3_port(front, services):
    env = services.env
    s3 = boto3.client(
        "s3",
        endpoint_url=f"https://localhost:{env['NGINX_S3_PORT']}",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["MLOPS_S3_REGION"],
        verify=str(front["cert"]),
        config=Config(s3={"addressing_style": "path"}),
    )
    bucket, key = env["MLOPS_LANDING_BUCKET"], f"nginx-test/{uuid.uuid4().hex}.csv"
    s3.put_object(Bucket=bucket, Key=key, Body=b"a;b\n1;2\n")
    direct = boto3.client(
        "s3",
        endpoint_url=env["MLOPS_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["MLOPS_S3_REGION"],
    )
    assert direct.get_object(Bucket=bucket, Key=key)["Body"].read() == b"a;b\n1;2\n"
    direct.delete_object(Bucket=bucket, Key=key)
