"""The Dagster code location: every pipeline spec turned into assets, plus the profile's resources."""

from __future__ import annotations

import warnings

import dagster as dg

from assets.factory import build_pipeline_definitions
from pipelines.spec import SPECS_DIR
from resources.clients import object_store
from resources.definitions import build_resources
from resources.settings import get_settings
from resources.spec_registry import load_all_specs
from sensors import build_event_sensors

# Data versions on Output are beta; content hashes as data versions are the lake's design.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def build_definitions() -> dg.Definitions:
    settings = get_settings()
    # Built-in and registered specs; a broken one is logged and skipped, never fatal to the code location.
    specs = load_all_specs(
        settings.specs_dir or SPECS_DIR, object_store(settings, settings.landing_uri)
    ).specs
    pipelines = [build_pipeline_definitions(spec) for spec in specs.values()]
    jobs = [job for spec_defs in pipelines for job in spec_defs.jobs or []]
    return dg.Definitions.merge(
        *pipelines,
        dg.Definitions(
            resources=build_resources(settings), sensors=build_event_sensors(specs, settings, jobs)
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """What Dagster's tools load (`dagster dev`, the code server), built when they load it, not at import:
    `mlops materialize` and the tests build the definitions themselves, with the settings of the moment."""
    return build_definitions()
