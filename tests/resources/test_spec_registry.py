"""Registered specs beside the built-in ones: stored in the landing store, loaded with them, a broken one
reported and skipped (never fatal to the code location), a built-in name refused, removal keeping data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.keys import PipelineKeys
from pipelines.spec import SPECS_DIR, SpecError
from resources.object_store import ObjectStore
from resources.spec_registry import REGISTERED_FOLDER, load_all_specs, register_spec, remove_spec

CENSUS = (SPECS_DIR / "census_income.yaml").read_text()


def renamed(name: str) -> str:
    return CENSUS.replace("name: census_income", f"name: {name}")


def test_a_registered_spec_loads_beside_the_built_in_ones(tmp_path: Path):
    landing = ObjectStore(tmp_path.as_uri())
    spec = register_spec(landing, renamed("loans"))
    loaded = load_all_specs(SPECS_DIR, landing)
    assert spec.name == "loans" and loaded.registered == {"loans"}
    assert {"air_quality", "census_income", "loans"} <= set(loaded.specs) and not loaded.broken
    assert (tmp_path / REGISTERED_FOLDER / "loans.yaml").read_text() == renamed("loans")


def test_a_broken_registered_spec_is_reported_and_skipped(tmp_path: Path):
    landing = ObjectStore(tmp_path.as_uri())
    (tmp_path / REGISTERED_FOLDER).mkdir()
    (tmp_path / REGISTERED_FOLDER / "broken.yaml").write_text(
        renamed("broken").replace("type: numeric", "type: money", 1)
    )
    loaded = load_all_specs(SPECS_DIR, landing)
    assert "broken" not in loaded.specs and "census_income" in loaded.specs
    [(where, why)] = loaded.broken.items()
    assert where.endswith("broken.yaml") and "columns[0].type" in why


def test_registering_checks_the_spec_and_refuses_a_built_in_name(tmp_path: Path):
    landing = ObjectStore(tmp_path.as_uri())
    with pytest.raises(SpecError) as invalid:
        register_spec(landing, renamed("loans").replace("metric: log_loss", "metric: accuracy"))
    assert any(e["location"] == "tasks[0].promotion.metric" for e in invalid.value.errors)
    with pytest.raises(SpecError, match="built-in"):
        register_spec(landing, CENSUS)
    assert not (tmp_path / REGISTERED_FOLDER).exists() or not list((tmp_path / REGISTERED_FOLDER).iterdir())


def test_removing_a_registered_pipeline_keeps_its_data(tmp_path: Path):
    landing = ObjectStore(tmp_path.as_uri())
    register_spec(landing, renamed("loans"))
    (tmp_path / "loans").mkdir()
    (tmp_path / "loans" / "upload.csv").write_text("kept")
    assert remove_spec(landing, "loans") and not remove_spec(landing, "loans")
    assert "loans" not in load_all_specs(SPECS_DIR, landing).specs
    assert (tmp_path / "loans" / "upload.csv").read_text() == "kept"


def test_the_code_location_loads_a_registered_spec_and_survives_a_broken_one(data_dir: Path, caplog):
    from definitions import build_definitions
    from resources.settings import get_settings

    landing = ObjectStore(get_settings().landing_uri)
    register_spec(landing, renamed("loans"))
    landing.path(REGISTERED_FOLDER, "bad.yaml").write_text("kind: tabular\nname: bad\n")
    with caplog.at_level("WARNING", logger="mlops.specs"):
        defs = build_definitions()
    assert any("bad.yaml" in r.getMessage() and "columns" in r.getMessage() for r in caplog.records)
    spec = load_all_specs(SPECS_DIR, landing).specs["loans"]
    assert defs.resolve_job_def(PipelineKeys(spec).refresh_job)
