"""features and training_set: the one feature table both models learn from, and its time-based split."""

import dagster as dg
import pandas as pd

from assets.ingestion import S3_RETRY
from assets.metadata import frame_metadata
from pipelines.features import build_features, origin_feature_columns
from pipelines.keys import PipelineKeys
from pipelines.spec import PipelineSpec
from pipelines.training_set import SPLITS, build_training_set
from resources.lake_store import content_hash

AFTER_CHECKS = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


def build_feature_assets(spec: PipelineSpec) -> list[dg.AssetsDefinition]:
    keys = PipelineKeys(spec)
    clean_key, features_key = dg.AssetKey(keys.clean), dg.AssetKey(keys.features)
    training_key = dg.AssetKey(keys.training_set)
    common = dict(
        group_name=spec.name,
        owners=[spec.owner],
        io_manager_key="lake_io_manager",
        kinds={"pandas", "parquet"},
        retry_policy=S3_RETRY,  # reads and writes the lake
    )

    @dg.asset(
        key=features_key,
        ins={"clean": dg.AssetIn(clean_key)},
        description="Per station and hour: lags, rolling statistics, covariates and calendar, from data up to "
        "that hour only. The same function computes features for the API.",
        tags={"layer": "features"},
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def features(context: dg.AssetExecutionContext, clean: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        if clean.empty:
            raise dg.Failure(
                f"{spec.name}/clean has no materialized partitions yet: materialize raw and clean first"
            )
        frame = build_features(clean, spec)
        meta = frame_metadata(frame)
        meta.update(
            features=len(origin_feature_columns(spec)),
            first_hour=str(frame[spec.timestamp_column].min()),
            last_hour=str(frame[spec.timestamp_column].max()),
            stations=int(frame[spec.station_column].nunique()),
        )
        return dg.Output(frame, data_version=dg.DataVersion(content_hash(frame)), metadata=meta)

    @dg.asset(
        key=training_key,
        ins={"features": dg.AssetIn(features_key)},
        description="Labelled model inputs split by time into train, calibration and holdout (no leakage from "
        "the future); one row per station and origin hour.",
        tags={"layer": "training"},
        check_specs=[
            dg.AssetCheckSpec(
                "enough_rows",
                asset=training_key,
                blocking=True,
                description="Every split has rows to learn from.",
            ),
        ],
        automation_condition=AFTER_CHECKS,
        **common,
    )
    def training_set(context: dg.AssetExecutionContext, features: pd.DataFrame):
        frame = build_training_set(features, spec)
        counts = {split: int((frame["split"] == split).sum()) for split in SPLITS}
        yield dg.Output(
            frame,
            data_version=dg.DataVersion(content_hash(frame)),
            metadata={**frame_metadata(frame), **{f"rows.{k}": v for k, v in counts.items()}},
        )
        minimum = 50
        short = [f"{k}: {v}" for k, v in counts.items() if v < minimum]
        yield dg.AssetCheckResult(
            check_name="enough_rows",
            asset_key=training_key,
            passed=not short,
            description=(
                f"splits below {minimum} rows ({', '.join(short)}); materialize more days of data"
                if short
                else ", ".join(f"{k}: {v}" for k, v in counts.items())
            ),
            metadata={f"rows.{k}": float(v) for k, v in counts.items()},
        )

    return [features, training_set]
