"""Object storage: a folder in the local profile, a bucket on any S3 endpoint in services.

Everything goes through `UPath`, so the same code writes to a directory, MinIO, SeaweedFS or AWS S3.
A plain client: the API, the CLI and the Dagster resource (resources/definitions.py) all use it.
"""

from __future__ import annotations

import contextlib

from upath import UPath

from resources.unavailable import reporting_unavailable


class ObjectStore:
    """A root URI (`/path` or `s3://bucket/prefix`) and, for S3, the endpoint and keys to reach it.

    Without keys, S3 credentials come from the usual places (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in
    the environment, a profile, an instance role), so they never need to be written into configuration.
    """

    def __init__(
        self,
        base_uri: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.base_uri = base_uri
        self.endpoint_url = endpoint_url
        self.region = region
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key

    def __repr__(self) -> str:
        return f"ObjectStore({self.base_uri!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def is_s3(self) -> bool:
        return self.base_uri.startswith("s3://")

    def storage_options(self) -> dict:
        if not self.is_s3:
            return {}
        options: dict = {
            "client_kwargs": {},
            "config_kwargs": {"retries": {"max_attempts": 3, "mode": "standard"}},
        }
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        if self.region:
            options["client_kwargs"]["region_name"] = self.region
        if self.access_key_id:
            options["key"] = self.access_key_id
            options["secret"] = self.secret_access_key
        return options

    def root(self) -> UPath:
        return UPath(self.base_uri, **self.storage_options())

    def path(self, *parts: str) -> UPath:
        return self.root().joinpath(*parts)

    def reporting_unavailable(self) -> contextlib.AbstractContextManager[None]:
        """Connection failures inside the block become `ServiceUnavailable` naming the S3 endpoint and
        bucket; other errors pass through unchanged (a local folder has nothing to be unreachable)."""
        if not self.is_s3:
            return contextlib.nullcontext()
        endpoint = self.endpoint_url or "default AWS"
        return reporting_unavailable(
            "s3", self.endpoint_url or "", f"S3 endpoint {endpoint} ({self.base_uri})"
        )

    def ensure_exists(self) -> None:
        """Create the folder or bucket if it is not there yet (idempotent)."""
        root = self.root()
        if self.is_s3:
            bucket = root.fs._strip_protocol(self.base_uri).split("/")[0]
            if not root.fs.exists(bucket):
                root.fs.mkdir(bucket)
        else:
            root.mkdir(parents=True, exist_ok=True)
