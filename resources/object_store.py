"""Object storage: a folder in the local profile, a bucket on any S3 endpoint in services.

Everything goes through `UPath`, so the same code writes to a directory, MinIO, SeaweedFS or AWS S3.
"""

import dagster as dg
from pydantic import Field
from upath import UPath


class ObjectStore(dg.ConfigurableResource):
    """A root URI (`/path` or `s3://bucket/prefix`) and, for S3, the endpoint and keys to reach it."""

    base_uri: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = Field(None, description="Set from the environment with dg.EnvVar.")
    secret_access_key: str | None = Field(None, description="Set from the environment with dg.EnvVar.")

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

    def ensure_exists(self) -> None:
        """Create the folder or bucket if it is not there yet (idempotent)."""
        root = self.root()
        if self.is_s3:
            bucket = root.fs._strip_protocol(self.base_uri).split("/")[0]
            if not root.fs.exists(bucket):
                root.fs.mkdir(bucket)
        else:
            root.mkdir(parents=True, exist_ok=True)
