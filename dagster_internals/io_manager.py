"""What the lake's IO manager needs from Dagster beyond its public API.

- `FolderUPathIOManager`: a `UPathIOManager` whose unpartitioned inputs and outputs live where
  `unpartitioned_path` says. UPathIOManager asks its private `_get_path` for that path and offers no public
  hook; the lake keeps each output as a folder of content-hashed versions, not a file at `<base>/<key>`.
- `add_partition_metadata`: materialization metadata for one partition of a range written in one step.
  Output metadata would stamp the range's figures on every day; the step context (private behind
  `OutputContext.step_context`) records metadata per partition.

tests/contract/test_io_manager.py checks both against the installed Dagster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from upath import UPath


class FolderUPathIOManager(dg.UPathIOManager):
    """`UPathIOManager` whose unpartitioned I/O path comes from `unpartitioned_path`."""

    def unpartitioned_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        raise NotImplementedError

    def _get_path(self, context: dg.InputContext | dg.OutputContext) -> UPath:
        return self.unpartitioned_path(context)


def add_partition_metadata(context: dg.OutputContext, partition: str, metadata: Mapping[str, Any]) -> None:
    """Metadata for the materialization of one partition of the output's asset, from its IO manager."""
    context.step_context.add_asset_metadata(metadata, asset_key=context.asset_key, partition_key=partition)
