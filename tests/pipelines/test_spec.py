"""The pipeline spec: shipped specs load, and a broken spec names the file, the field and the problem."""

from pathlib import Path

import pytest
import yaml

from pipelines.spec import SPECS_DIR, RegressionTask, SpecError, load_spec, load_specs


def test_shipped_specs_load_with_both_tasks():
    specs = load_specs()
    assert {"air_quality", "air_quality_landing"} <= set(specs)
    spec = specs["air_quality"]
    forecast = spec.task("forecast")
    assert isinstance(forecast, RegressionTask)
    assert forecast.targets == ["no2", "co"]
    assert forecast.horizons == list(range(1, 25))
    assert spec.task("exceedance").target == "no2"
    assert spec.column("no2").sentinels == [-200]


def _write(tmp_path: Path, name: str, mutate) -> Path:
    data = yaml.safe_load((SPECS_DIR / "air_quality.yaml").read_text())
    data["name"] = name
    mutate(data)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_wrong_type_error_names_file_field_and_problem(tmp_path):
    path = _write(tmp_path, "broken", lambda d: d["tasks"][0].__setitem__("horizons", ["soon"]))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message
    assert "tasks[0].regression.horizons[0]" in message
    assert "integer" in message


def test_unknown_target_column_is_reported(tmp_path):
    path = _write(tmp_path, "broken", lambda d: d["tasks"][0].__setitem__("targets", ["no2", "ozone"]))
    with pytest.raises(SpecError, match=r"unknown target column 'ozone'"):
        load_spec(path)


def test_missing_required_field_and_extra_field_are_both_listed(tmp_path):
    def mutate(d):
        del d["partitions"]
        d["colums"] = []

    path = _write(tmp_path, "broken", mutate)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert "partitions: Field required" in str(err.value)
    assert "colums: Extra inputs are not permitted" in str(err.value)


def test_name_must_match_file_name(tmp_path):
    path = _write(tmp_path, "air", lambda d: d.__setitem__("name", "other"))
    with pytest.raises(SpecError, match="must match the file name 'air'"):
        load_spec(path)


def test_not_yaml_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


def test_a_loss_the_algorithm_cannot_train_is_reported(tmp_path):
    def mutate(d):
        d["tasks"][0]["candidates"][1]["loss"] = "absolute_error"  # the ridge candidate

    with pytest.raises(SpecError, match=r"loss 'absolute_error' is not available for algorithm 'ridge'"):
        load_spec(_write(tmp_path, "broken", mutate))


def test_relative_to_trailing_mean_needs_the_24h_mean_feature(tmp_path):
    def mutate(d):
        d["features"]["rolling_windows"] = [6]
        d["tasks"][0]["candidates"][0]["target_transform"] = "relative_to_trailing_mean"

    with pytest.raises(SpecError, match=r"trailing 24 h mean: features need rolling_windows with 24"):
        load_spec(_write(tmp_path, "broken", mutate))


def test_the_landing_spec_opts_in_and_the_default_keeps_its_setup():
    specs = load_specs()
    default, landing = specs["air_quality"].task("forecast"), specs["air_quality_landing"].task("forecast")
    assert not default.per_target_sources and default.interval_method == "conformal"
    assert all(c.loss is None and c.target_transform == "none" for c in default.candidates)
    assert landing.per_target_sources
    # Plain squared error and the loss/transform that won on a real export compete on the calibration split.
    assert [(c.loss, c.target_transform) for c in landing.candidates] == [
        (None, "none"),
        ("absolute_error", "relative_to_trailing_mean"),
    ]
