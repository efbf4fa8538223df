"""One way to say a service is unreachable: the S3 store, the MLflow registry and the event bus each
raise `ServiceUnavailable` naming the service and its URL when nothing listens there, and an asset's
boundary turns it into a Dagster failure with that message (retried), or a refused promotion into one
that is not retried."""

from __future__ import annotations

import dagster as dg
import pytest

from resources.events import RabbitEventBus
from resources.failures import as_dagster_failure
from resources.mlflow_registry import MlflowRegistry, PromotionRefused
from resources.object_store import ObjectStore
from resources.unavailable import ServiceUnavailable
from tests.throwaway import free_port_block


@pytest.fixture
def closed_port() -> int:
    return free_port_block(1)


def test_s3_registry_and_broker_all_report_an_unreachable_service_the_same_way(
    closed_port: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # the message is the point, not the retries
    url = f"http://127.0.0.1:{closed_port}"
    store = ObjectStore("s3://lake", endpoint_url=url, access_key_id="k", secret_access_key="s")
    with pytest.raises(ServiceUnavailable) as s3, store.reporting_unavailable():
        store.path("air_quality", "raw").exists()
    assert (s3.value.service, s3.value.url) == ("s3", url)
    assert str(s3.value).startswith(f"S3 endpoint {url} (s3://lake) is unreachable: ")

    with pytest.raises(ServiceUnavailable) as mlflow:
        MlflowRegistry(url).champion("air_quality.forecast")
    assert (mlflow.value.service, mlflow.value.url) == ("mlflow", url)
    assert str(mlflow.value).startswith(f"MLflow tracking server at {url} is unreachable: ")

    bus = RabbitEventBus(f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F", source="tests")
    with pytest.raises(ServiceUnavailable) as broker:
        bus.publish("training.requested", {"pipeline": "air_quality"})
    assert broker.value.service == "rabbitmq" and f"127.0.0.1:{closed_port}" in broker.value.url
    assert "guest" not in broker.value.url  # credentials stay out of messages


def test_an_asset_fails_naming_the_service_and_a_refused_promotion_is_not_retried():
    with pytest.raises(dg.Failure) as unavailable, as_dagster_failure():
        raise ServiceUnavailable("mlflow", "http://mlflow:5000", "MLflow tracking server at … is unreachable")
    assert unavailable.value.description.startswith("MLflow tracking server at")
    assert unavailable.value.metadata["url"].value == "http://mlflow:5000"
    assert unavailable.value.allow_retries

    with pytest.raises(dg.Failure) as refused, as_dagster_failure():
        raise PromotionRefused("version 3 of 'air_quality.forecast' has no usable artifacts")
    assert not refused.value.allow_retries
