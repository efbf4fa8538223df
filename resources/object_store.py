"""Object storage: a folder in the local profile, a bucket on any S3 endpoint in services.

Everything goes through `UPath`, so the same code writes to a directory, MinIO, SeaweedFS or AWS S3.
"""

import contextlib
import errno
from collections.abc import Iterator

import botocore.exceptions
import dagster as dg
from pydantic import Field
from upath import UPath


def unreachable(exc: BaseException) -> bool:
    """The endpoint did not answer: refused, reset, timed out, or the server was unavailable."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
            return True
        if isinstance(seen, ConnectionError | TimeoutError) or getattr(seen, "errno", None) in (
            errno.ECONNREFUSED,
            errno.ECONNRESET,
            errno.ETIMEDOUT,
        ):
            return True
        if "ServiceUnavailable" in str(seen) or "SlowDown" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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

    @contextlib.contextmanager
    def reporting_unavailable(self) -> Iterator[None]:
        """Connection failures inside the block become a failure naming the S3 endpoint and bucket (the
        asset's RetryPolicy still retries it); other errors pass through unchanged."""
        try:
            yield
        except Exception as exc:
            if not self.is_s3 or isinstance(exc, dg.Failure) or not unreachable(exc):
                raise
            raise dg.Failure(
                description=f"S3 endpoint {self.endpoint_url or 'default AWS'} ({self.base_uri}) is unreachable: "
                f"{type(exc).__name__}: {str(exc)[:300]}",
                metadata={"service": "s3", "url": self.endpoint_url or "", "bucket": self.base_uri},
            ) from exc

    def ensure_exists(self) -> None:
        """Create the folder or bucket if it is not there yet (idempotent)."""
        root = self.root()
        if self.is_s3:
            bucket = root.fs._strip_protocol(self.base_uri).split("/")[0]
            if not root.fs.exists(bucket):
                root.fs.mkdir(bucket)
        else:
            root.mkdir(parents=True, exist_ok=True)
