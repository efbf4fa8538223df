"""Specs registered at run time, beside the built-in ones: YAML files under `_specs/` in the landing store
(a folder locally, a bucket prefix with services). Loading every spec never fails as a whole: a broken
one is reported (file and reason) and skipped, so one bad spec cannot take the code location or the API
down. Removing a registered spec removes only its YAML; its data and models stay."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.spec import SPECS_DIR, AnySpec, SpecError, load_spec, parse_spec
from resources.object_store import ObjectStore

log = logging.getLogger("mlops.specs")
REGISTERED_FOLDER = "_specs"


@dataclass(frozen=True)
class LoadedSpecs:
    specs: dict[str, AnySpec]
    broken: dict[str, str] = field(default_factory=dict)  # file → why it was skipped
    registered: frozenset[str] = frozenset()  # names of the specs registered at run time


def load_all_specs(builtin: str | Path = SPECS_DIR, landing: ObjectStore | None = None) -> LoadedSpecs:
    """The built-in specs and the registered ones; broken ones reported and skipped."""
    specs: dict[str, AnySpec] = {}
    broken: dict[str, str] = {}
    for path in sorted(Path(builtin).glob("*.yaml")):
        try:
            spec = load_spec(path)
        except SpecError as exc:
            broken[str(path)] = str(exc)
            continue
        specs[spec.name] = spec
    registered = set()
    if landing is not None:
        try:
            with landing.reporting_unavailable():
                folder = landing.path(REGISTERED_FOLDER)
                files = sorted(folder.glob("*.yaml")) if folder.exists() else []
                texts = {p.stem: (str(p), p.read_text()) for p in files}
        except Exception as exc:  # noqa: BLE001 - the store is away: serve the built-in specs, say why
            broken[REGISTERED_FOLDER] = f"registered specs unreadable: {exc}"
            texts = {}
        for stem, (where, text) in texts.items():
            try:
                spec = parse_spec(text, where)
                if spec.name != stem:
                    raise SpecError(f"{where}: name: '{spec.name}' must match the file name '{stem}'")
                if spec.name in specs:
                    raise SpecError(f"{where}: name: '{spec.name}' is a built-in pipeline")
            except SpecError as exc:
                broken[where] = str(exc)
                continue
            specs[spec.name] = spec
            registered.add(spec.name)
    for where, why in broken.items():
        log.warning("skipped the pipeline spec %s: %s", where, why)
    return LoadedSpecs(specs, broken, frozenset(registered))


def register_spec(landing: ObjectStore, text: str, builtin: str | Path = SPECS_DIR) -> AnySpec:
    """Validate a spec and store it (replacing an earlier registration of the same name). SpecError names
    the field and the problem, or the built-in pipeline the name would replace."""
    spec = parse_spec(text)
    if (Path(builtin) / f"{spec.name}.yaml").exists():
        raise SpecError(
            f"name: '{spec.name}' is a built-in pipeline",
            [{"location": "name", "message": f"'{spec.name}' is a built-in pipeline; choose another name"}],
        )
    with landing.reporting_unavailable():
        target = landing.path(REGISTERED_FOLDER, f"{spec.name}.yaml")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return spec


def remove_spec(landing: ObjectStore, name: str) -> bool:
    """Remove a registered spec (its data and models stay); False when no such registration exists."""
    with landing.reporting_unavailable():
        target = landing.path(REGISTERED_FOLDER, f"{name}.yaml")
        if not target.exists():
            return False
        target.unlink()
    return True
