"""The Dagster code location: every pipeline spec turned into assets, plus the profile's resources."""

from __future__ import annotations

import warnings

import dagster as dg

from assets.factory import build_pipeline_definitions
from pipelines.spec import SPECS_DIR, load_specs
from resources.definitions import build_resources
from resources.settings import get_settings
from sensors import build_event_sensors

# Data versions on Output are beta; content hashes as data versions are the lake's design.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def build_definitions() -> dg.Definitions:
    settings = get_settings()
    specs = load_specs(settings.specs_dir or SPECS_DIR)
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
