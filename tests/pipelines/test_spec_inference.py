"""Proposing a spec from a sample: the messy census export and a semicolon/decimal-comma lab file."""

from __future__ import annotations

from pipelines.census_simulator import census_csv, simulate_census
from pipelines.spec import TabularSpec, parse_spec
from pipelines.spec_inference import infer_spec
from pipelines.tabular_parsing import read_table, type_table


def test_census_export_gets_no_header_sentinels_types_and_a_target_with_unsure_points():
    found = infer_spec(census_csv(simulate_census(400, seed=2), seed=2), "census_copy")
    parsing = found.spec["source"]["parsing"]
    assert (parsing["delimiter"], parsing["header"], parsing["decimal"]) == (",", False, ".")
    assert "?" in parsing["sentinels"]
    types = [c["type"] for c in found.spec["columns"]]
    assert types[0] == "numeric" and types[11] == "boolean" and types[13] == "datetime"
    assert found.spec["columns"][14]["allowed"] == ["<=50K", ">50K"]  # `>50K.` merged
    assert found.spec["tasks"][0]["target"] == "column_15"
    assert any(u.startswith("target:") for u in found.unsure)
    assert any("column_8" in u and "mapping" in u for u in found.unsure)  # sex coded 1/2
    assert any("trailing period" in u for u in found.unsure)


def test_proposal_round_trips_as_yaml_and_reads_the_file_it_came_from():
    content = (
        "Wert;Probe Name;Datum;flag\n1,5;a;03.01.2024;high\n2,25;b;04.01.2024;low\nNA;c;05.01.2024;high.\n"
    )
    found = infer_spec(content.encode("cp1252"), "lab")
    spec = parse_spec(found.to_yaml())
    assert isinstance(spec, TabularSpec)
    parsing = spec.source.parsing
    assert (parsing.delimiter, parsing.decimal, parsing.header) == (";", ",", True)
    assert [c.name for c in spec.columns] == ["wert", "probe_name", "datum", "flag"]
    assert spec.column("probe_name").source == "Probe Name"
    assert spec.column("datum").format == "%d.%m.%Y"
    typed = type_table(read_table(content.encode(), "lab.csv", spec), spec, "flag").frame
    assert typed["wert"].tolist()[:2] == [1.5, 2.25]
    assert typed["flag"].tolist() == ["high", "low", "high"]
