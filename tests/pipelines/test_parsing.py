"""Source files are read using only the spec's declarations."""

import pandas as pd
import pytest

from pipelines.parsing import SourceFileError, format_source_file, parse_source_file
from pipelines.quality import check_schema
from pipelines.simulator import simulate_readings
from pipelines.spec import load_specs

SPEC = load_specs()["air_quality_landing"]

FIELD_EXPORT = (
    "Date;Time;CO(GT);PT08.S1(CO);NO2(GT);NOx(GT);C6H6(GT);T;RH;AH;;\n"
    "10/03/2004;18.00.00;2,6;1360;113;166;11,9;13,6;48,9;0,7578;;\n"
    "10/03/2004;19.00.00;2;1292;92;103;9,4;13,3;47,7;0,7255;;\n"
    "10/03/2004;20.00.00;-200;1402;-200;131;9,0;11,9;54,0;0,7502;;\n"
    ";;;;;;;;;;;\n"
)


def test_field_device_export_is_parsed_by_declaration():
    raw = parse_source_file(FIELD_EXPORT.encode(), "export.csv", SPEC)
    assert list(raw.columns) == ["station", "timestamp", *SPEC.column_names]
    assert len(raw) == 3  # the empty trailing line is gone
    assert raw["timestamp"].iloc[0] == pd.Timestamp("2004-03-10 18:00", tz="UTC")
    assert raw["co"].tolist() == [2.6, 2.0, -200.0]  # decimal comma; sentinel kept in raw
    assert raw["absolute_humidity"].iloc[0] == pytest.approx(0.7578)
    assert (raw["station"] == "site_1").all()  # default station for single-device files


def test_simulated_readings_round_trip_through_the_declared_format():
    readings = simulate_readings(["site_1"], "2024-02-01", "2024-02-03", seed=1)
    raw = parse_source_file(format_source_file(readings, SPEC), "sample.csv", SPEC)
    pd.testing.assert_frame_equal(
        raw[["station", "timestamp", "no2", "co"]],
        readings[["station", "timestamp", "no2", "co"]],
        check_dtype=False,
    )


def test_missing_column_is_left_for_the_schema_check_to_name():
    text = FIELD_EXPORT.replace("NO2(GT)", "NO2_renamed")
    raw = parse_source_file(text.encode(), "export.csv", SPEC)
    passed, description, _ = check_schema(raw, SPEC)
    assert not passed
    assert "column 'no2' (source 'NO2(GT)') is missing" in description


def test_text_in_a_numeric_column_is_named_with_an_example():
    text = FIELD_EXPORT.replace(";113;", ";n/a;")
    raw = parse_source_file(text.encode(), "export.csv", SPEC)
    passed, description, _ = check_schema(raw, SPEC)
    assert not passed
    assert "'no2' has 1 values that are not numbers (e.g. 'n/a')" in description


def test_timestamps_in_another_format_fail_with_line_numbers():
    text = FIELD_EXPORT.replace("10/03/2004;19.00.00", "2004-03-10;19:00")
    with pytest.raises(SourceFileError, match=r"1 timestamps do not match .*line 3: '2004-03-10 19:00'"):
        parse_source_file(text.encode(), "export.csv", SPEC)
