"""The declarative pipeline spec: one YAML file per pipeline, validated by pydantic.

Everything that differs between datasets lives here (parsing, schema, features, models, promotion rule);
the asset factory, the API and the UI read a `PipelineSpec` and share the same machinery.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.simulator import Scenario

SPECS_DIR = Path(__file__).parent / "specs"


class SpecError(ValueError):
    """A pipeline spec that cannot be used; the message names the file, the field and the problem."""

    def __init__(self, message: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [{"location": "(spec)", "message": message}]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """One measured column: its name in our tables, its name in the source, unit, valid range, sentinels."""

    name: str
    source: str | None = Field(None, description="Column header in the source file; defaults to `name`.")
    dtype: Literal["float", "int", "str"] = "float"
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    sentinels: list[float] = Field(default_factory=list, description="Values that mean 'no reading'.")
    required: bool = True

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @model_validator(mode="after")
    def _range_is_ordered(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class ParsingSpec(_Strict):
    """How to read a source file: only declarations, never code."""

    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    encoding: str = "utf-8"
    timestamp_column: str | None = Field(None, description="One column holding date and time.")
    timestamp_format: str | None = None
    date_column: str | None = Field(None, description="Separate date column, e.g. `10/03/2004`.")
    date_format: str | None = None
    time_column: str | None = Field(None, description="Separate time column, e.g. `18.00.00`.")
    time_format: str | None = None
    station_column: str | None = Field(None, description="Source column naming the station.")
    default_station: str | None = Field(None, description="Station id for files that hold one station.")
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_way_to_read_time(self) -> ParsingSpec:
        split = self.date_column is not None or self.time_column is not None
        if self.timestamp_column and split:
            raise ValueError("declare either timestamp_column or date_column + time_column, not both")
        if split and not (self.date_column and self.time_column):
            raise ValueError("date_column and time_column go together")
        if self.station_column is None and self.default_station is None:
            raise ValueError("declare station_column, or default_station for single-station files")
        return self


class SimulatorSource(_Strict):
    kind: Literal["simulator"]
    stations: int = Field(5, ge=1, le=10_000)
    seed: int = 42
    scenarios: list[Scenario] = Field(
        default_factory=list,
        description="Harder data on top of the default network (pipelines/simulator.py).",
    )


class FilesSource(_Strict):
    kind: Literal["files"]
    prefix: str | None = Field(None, description="Folder in the landing area; defaults to the pipeline name.")
    patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.parquet"])
    parsing: ParsingSpec


Source = Annotated[SimulatorSource | FilesSource, Field(discriminator="kind")]


class PartitionSpec(_Strict):
    start_date: dt.date
    end_offset_days: int = Field(0, description="0: partitions end yesterday (the last complete day).")


class FeatureSpec(_Strict):
    lags: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0, 1, 2, 3, 24])
    rolling_windows: list[Annotated[int, Field(ge=2)]] = Field(default_factory=lambda: [3, 24])
    rolling_stats: list[Literal["mean", "std", "min", "max"]] = Field(default_factory=lambda: ["mean"])
    lagged_columns: list[str] = Field(default_factory=list, description="Columns to lag besides targets.")
    covariates: list[str] = Field(default_factory=list, description="Columns used as-is at the origin hour.")
    calendar: list[Literal["hour", "dayofweek", "month", "is_weekend"]] = Field(
        default_factory=lambda: ["hour", "dayofweek", "month", "is_weekend"]
    )
    seasonal_lag_hours: int | None = Field(24, description="Add 'value at the same hour one season ago'.")


class ModelCandidate(_Strict):
    name: str
    algorithm: Literal["hist_gradient_boosting", "random_forest", "ridge", "logistic_regression"]
    params: dict[str, Any] = Field(default_factory=dict)
    loss: Literal["squared_error", "absolute_error", "quantile"] | None = Field(
        None,
        description="Training loss of a regression tree model; absolute_error matches an MAE promotion rule. "
        "Default: the algorithm's own (squared error).",
    )
    quantile: float = Field(0.5, gt=0, lt=1, description="The quantile fitted when loss is `quantile`.")
    target_transform: Literal["none", "relative_to_trailing_mean", "log1p"] = Field(
        "none",
        description="Fit the target as it is, relative to its trailing 24 h mean (added back; trees cannot "
        "extrapolate past the levels they saw), or as log(1 + y) for right-skewed pollutants.",
    )

    @model_validator(mode="after")
    def _loss_fits_algorithm(self) -> ModelCandidate:
        allowed = {
            "hist_gradient_boosting": {"squared_error", "absolute_error", "quantile"},
            "random_forest": {"squared_error", "absolute_error"},
        }
        if self.loss is not None and self.loss not in allowed.get(self.algorithm, set()):
            raise ValueError(f"loss '{self.loss}' is not available for algorithm '{self.algorithm}'")
        return self


class PromotionRule(_Strict):
    metric: Literal["mae", "rmse", "brier"]
    min_improvement_over_baseline: float = Field(0.05, ge=0, lt=1, description="Relative, e.g. 0.05 = 5%.")
    min_improvement_over_champion: float = Field(
        0.0, ge=-1, lt=1, description="Relative; 0 = at least equal."
    )


class RegressionTask(_Strict):
    """Point forecasts with calibrated prediction intervals for each target at each horizon."""

    kind: Literal["regression"]
    name: str
    description: str = ""
    targets: list[str]
    horizons: list[Annotated[int, Field(ge=1)]]
    interval_level: float = Field(0.9, gt=0.5, lt=1)
    coverage_tolerance: float = Field(0.05, gt=0, lt=0.5)
    candidates: list[ModelCandidate]
    promotion: PromotionRule
    output_asset: str = "forecasts"
    per_target_sources: bool = Field(
        False,
        description="Gate each target on its own: a target whose model fails its gates is served by the "
        "seasonal-naive baseline with its own calibrated interval, the others by the model.",
    )
    interval_method: Literal["conformal", "recent_weighted"] = Field(
        "conformal",
        description="`conformal`: every calibration residual counts the same. `recent_weighted`: residuals "
        "weigh less the older they are (half-life `interval_half_life_days`), for seasons that shift.",
    )
    interval_half_life_days: float = Field(7.0, gt=0)


class ClassificationTask(_Strict):
    """Probability that `target` exceeds `threshold` within the next `within_hours` hours."""

    kind: Literal["classification"]
    name: str
    description: str = ""
    target: str
    threshold: float
    within_hours: int = Field(12, ge=1)
    max_calibration_error: float = Field(0.05, gt=0, lt=1)
    candidates: list[ModelCandidate]
    promotion: PromotionRule
    output_asset: str = "exceedance_risk"


Task = Annotated[RegressionTask | ClassificationTask, Field(discriminator="kind")]


class SplitSpec(_Strict):
    """Time-based split of the training set: train, then calibration, then holdout (no leakage)."""

    calibration_fraction: float = Field(0.15, gt=0, lt=0.5)
    holdout_fraction: float = Field(0.15, gt=0, lt=0.5)
    gap_hours: int = Field(24, ge=0, description="Hours dropped between parts so labels never overlap.")


class CheckSpec(_Strict):
    min_rows_per_station_day: int = Field(12, ge=0)
    max_missing_fraction: float = Field(0.5, gt=0, le=1)
    freshness_hours: float = Field(30, gt=0)
    retrain_within_days: float = Field(
        7, gt=0, description="A champion older than this is stale: the ChampionStale alert fires."
    )


class PipelineSpec(_Strict):
    kind: Literal["timeseries"] = "timeseries"
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str
    owner: str = "team:data-platform"
    source: Source
    station_column: str = "station"
    timestamp_column: str = "timestamp"
    columns: list[ColumnSpec]
    max_gap_hours: int = Field(3, ge=0, description="Gaps up to this long are interpolated in clean.")
    partitions: PartitionSpec
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    checks: CheckSpec = Field(default_factory=CheckSpec)
    tasks: list[Task]

    @field_validator("columns")
    @classmethod
    def _unique_columns(cls, columns: list[ColumnSpec]) -> list[ColumnSpec]:
        names = [c.name for c in columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column names repeat: {', '.join(dupes)}")
        return columns

    @model_validator(mode="after")
    def _references_exist(self) -> PipelineSpec:
        known = set(self.column_names)
        problems: list[str] = []
        for field in ("lagged_columns", "covariates"):
            for col in getattr(self.features, field):
                if col not in known:
                    problems.append(f"features.{field}: unknown column '{col}'")
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            problems.append("tasks: task names repeat")
        outputs = [t.output_asset for t in self.tasks]
        if len(set(outputs)) != len(outputs):
            problems.append("tasks: output_asset names repeat")
        for task in self.tasks:
            targets = task.targets if isinstance(task, RegressionTask) else [task.target]
            for target in targets:
                if target not in known:
                    problems.append(f"tasks.{task.name}: unknown target column '{target}'")
            relative = [c.name for c in task.candidates if c.target_transform == "relative_to_trailing_mean"]
            if relative and not (
                24 in self.features.rolling_windows and "mean" in self.features.rolling_stats
            ):
                problems.append(
                    f"tasks.{task.name}: candidates {', '.join(relative)} predict relative to the trailing 24 h "
                    "mean: features need rolling_windows with 24 and rolling_stats with mean"
                )
            if isinstance(task, ClassificationTask) and any(
                c.loss or c.target_transform != "none" for c in task.candidates
            ):
                problems.append(f"tasks.{task.name}: loss and target_transform are for regression tasks")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    def task(self, name: str) -> RegressionTask | ClassificationTask:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"pipeline '{self.name}' has no task '{name}'")


# Tabular pipelines (`kind: tabular`): rows with typed columns, one target, no stations or hours.


class TabularParsing(_Strict):
    """How to read an exported table: only declarations, never code."""

    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    quotechar: str = Field('"', min_length=1, max_length=1)
    encoding: str = "utf-8"
    header: bool = Field(
        True, description="False: the file has no header row; columns are read in spec order."
    )
    strip_whitespace: bool = Field(True, description="Strip spaces around every value and header.")
    sentinels: list[str] = Field(
        default_factory=lambda: ["", "?", "NA", "N/A"],
        description="Strings that mean 'missing' in any column (compared after stripping).",
    )


class TabularSource(_Strict):
    kind: Literal["files"]
    prefix: str | None = Field(None, description="Folder in the landing area; defaults to the pipeline name.")
    patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.parquet"])
    parsing: TabularParsing = Field(default_factory=TabularParsing)


class TabularColumn(_Strict):
    """One column of the table: its type and what values it may take."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    source: str | None = Field(None, description="Header in the file; defaults to `name`.")
    type: Literal["numeric", "categorical", "boolean", "datetime"]
    allowed: list[str] | None = Field(None, description="Categorical: the values it may take.")
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Raw value → value, applied after stripping (e.g. `1` → `Male`)."
    )
    true_values: list[str] = Field(default_factory=lambda: ["true", "yes", "y", "1", "t"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "no", "n", "0", "f"])
    format: str | None = Field(None, description="Datetime: strftime format; default: inferred.")
    min: float | None = None
    max: float | None = None
    required: bool = Field(False, description="Prediction requests must give a value (not null).")

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @model_validator(mode="after")
    def _fits_its_type(self) -> TabularColumn:
        if self.allowed is not None and self.type != "categorical":
            raise ValueError("allowed values are for categorical columns")
        if self.allowed is not None and len(set(self.allowed)) != len(self.allowed):
            raise ValueError("allowed values repeat")
        if (self.min is not None or self.max is not None) and self.type != "numeric":
            raise ValueError("min and max are for numeric columns")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class SearchSpace(_Strict):
    """One hyper-parameter's range: integers or floats between `low` and `high`, or a list of choices."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind_of_range(self) -> SearchSpace:
        if self.choices is None and (self.low is None or self.high is None or self.low >= self.high):
            raise ValueError("give choices, or low < high")
        return self


class SearchSpec(_Strict):
    """Hyper-parameter search within a budget (Optuna, TPE sampler seeded), scored on the calibration split."""

    space: dict[str, SearchSpace] = Field(min_length=1)
    trials: int = Field(20, ge=1, le=1000)
    timeout_seconds: float | None = Field(None, gt=0)
    seed: int = 0


class TabularCandidate(_Strict):
    name: str
    algorithm: Literal[
        "logistic_regression", "linear_regression", "ridge", "hist_gradient_boosting", "random_forest"
    ]
    params: dict[str, Any] = Field(default_factory=dict)
    search: SearchSpec | None = None


class TabularPromotion(_Strict):
    metric: Literal["log_loss", "brier", "mae", "rmse"]
    min_improvement_over_baseline: float = Field(0.05, ge=0, lt=1, description="Relative, e.g. 0.05 = 5%.")
    min_improvement_over_champion: float = Field(0.0, ge=-1, lt=1)


class SliceSpec(_Strict):
    """A slice of the rows metrics are also reported for: a column's values, or numeric bands of it."""

    column: str
    name: str | None = Field(None, description="Defaults to the column name.")
    bins: list[float] | None = Field(
        None, description="Numeric columns: band edges, e.g. [17, 30, 45, 65, 100]."
    )

    @property
    def label(self) -> str:
        return self.name or self.column


class TabularTask(_Strict):
    """One target predicted from the other columns: classes with conformal sets, or values with intervals."""

    kind: Literal["classification", "regression"]
    name: str
    description: str = ""
    target: str
    exclude: list[str] = Field(default_factory=list, description="Columns not used as model inputs.")
    candidates: list[TabularCandidate] = Field(min_length=1)
    promotion: TabularPromotion
    max_calibration_error: float = Field(
        0.05, gt=0, lt=1, description="Classification: ECE limit on holdout."
    )
    level: float = Field(0.9, gt=0.5, lt=1, description="Coverage of prediction sets or intervals.")
    coverage_tolerance: float = Field(0.05, gt=0, lt=0.5)
    slices: list[SliceSpec] = Field(default_factory=list)
    slice_tolerance: float = Field(0.1, gt=0, lt=1, description="Relative: a slice this much worse warns.")

    @model_validator(mode="after")
    def _metric_fits_the_task(self) -> TabularTask:
        wanted = {"classification": {"log_loss", "brier"}, "regression": {"mae", "rmse"}}[self.kind]
        if self.promotion.metric not in wanted:
            raise ValueError(f"promotion.metric for {self.kind} is one of {sorted(wanted)}")
        return self


class TabularSplit(_Strict):
    """train → calibration → holdout: by `time_column` when the spec has one, else stratified random."""

    calibration_fraction: float = Field(0.2, gt=0, lt=0.5)
    holdout_fraction: float = Field(0.2, gt=0, lt=0.5)
    seed: int = 0


class TabularSpec(_Strict):
    kind: Literal["tabular"]
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    description: str
    owner: str = "team:data-platform"
    source: TabularSource
    columns: list[TabularColumn] = Field(min_length=2)
    time_column: str | None = Field(
        None, description="A datetime column to split by (no leakage from the future)."
    )
    split: TabularSplit = Field(default_factory=TabularSplit)
    min_rows: int = Field(200, ge=10, description="Fewer rows after cleaning fail the row_count check.")
    tasks: list[TabularTask] = Field(min_length=1, max_length=1, description="One target per pipeline.")

    @model_validator(mode="after")
    def _references_exist(self) -> TabularSpec:
        names = [c.name for c in self.columns]
        problems = [f"columns: '{n}' repeats" for n in sorted({n for n in names if names.count(n) > 1})]
        known = set(names)
        if self.time_column and (
            self.time_column not in known or self.column(self.time_column).type != "datetime"
        ):
            problems.append(f"time_column: '{self.time_column}' is not a datetime column")
        for task in self.tasks:
            if task.target not in known:
                problems.append(f"tasks.{task.name}.target: unknown column '{task.target}'")
            elif task.kind == "classification" and self.column(task.target).type not in (
                "categorical",
                "boolean",
            ):
                problems.append(
                    f"tasks.{task.name}.target: classification needs a categorical or boolean column"
                )
            elif task.kind == "regression" and self.column(task.target).type != "numeric":
                problems.append(f"tasks.{task.name}.target: regression needs a numeric column")
            for col in [*task.exclude, *(s.column for s in task.slices)]:
                if col not in known:
                    problems.append(f"tasks.{task.name}: unknown column '{col}'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> TabularColumn:
        return next(c for c in self.columns if c.name == name)

    def task(self, name: str) -> TabularTask:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"pipeline '{self.name}' has no task '{name}'")

    def input_columns(self, task: TabularTask) -> list[TabularColumn]:
        """The model's inputs: every column but the target, the excluded ones and the time column."""
        skip = {task.target, *task.exclude, *([self.time_column] if self.time_column else [])}
        return [c for c in self.columns if c.name not in skip]


AnySpec = PipelineSpec | TabularSpec


def is_tabular(spec: AnySpec) -> bool:
    return isinstance(spec, TabularSpec)


def _format_location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_spec(text: str, where: str = "spec") -> AnySpec:
    """Validate one spec's YAML text; every problem is reported as `where: field: message` (also in
    `SpecError.errors`, one `{location, message}` each)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(
            f"{where}: not valid YAML: {exc}", [{"location": "(yaml)", "message": str(exc)}]
        ) from exc
    if not isinstance(data, dict):
        found = type(data).__name__
        raise SpecError(
            f"{where}: expected a mapping of fields at the top level, got {found}",
            [{"location": "(top level)", "message": f"expected a mapping, got {found}"}],
        )
    try:
        kind = TabularSpec if data.get("kind") == "tabular" else PipelineSpec
        return kind.model_validate(data)
    except ValidationError as exc:
        errors = [{"location": _format_location(err["loc"]), "message": err["msg"]} for err in exc.errors()]
        lines = [f"{where}: {e['location']}: {e['message']}" for e in errors]
        raise SpecError("invalid pipeline spec\n" + "\n".join(lines), errors) from None


def load_spec(path: str | Path) -> AnySpec:
    """Read and validate one spec file; every problem is reported as `file: field: message`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror}") from exc
    spec = parse_spec(text, str(path))
    if spec.name != path.stem:
        raise SpecError(f"{path}: name: '{spec.name}' must match the file name '{path.stem}'")
    return spec


def load_specs(directory: str | Path = SPECS_DIR) -> dict[str, AnySpec]:
    """All specs in a folder, by pipeline name."""
    specs = [load_spec(p) for p in sorted(Path(directory).glob("*.yaml"))]
    return {s.name: s for s in specs}
