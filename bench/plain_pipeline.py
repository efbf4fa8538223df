"""The baseline for bench/materialize_vs_script.py: the air_quality pipeline as one plain pandas +
scikit-learn script, the way a data scientist would write it without a platform.

Same data (the simulator), same cleaning rules, same features (lags 0,1,2,3,6,12,24 and 6 h / 24 h rolling
mean and std of no2, co, nox; covariates; calendar; horizon and target-hour calendar), same split, same
candidates and the same conformal intervals and exceedance classifier. No lake, no checks, no MLflow.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipelines.simulator import simulate_readings, station_ids

COLUMNS = {  # name: (min, max)
    "co": (0, 50), "no2": (0, 1000), "nox": (0, 3000), "benzene": (0, 100),
    "temperature": (-40, 55), "relative_humidity": (0, 100), "absolute_humidity": (0, 60),
}  # fmt: skip
LAGGED = ["no2", "co", "nox"]
LAGS = [0, 1, 2, 3, 6, 12, 24]
WINDOWS = [6, 24]
COVARIATES = ["temperature", "relative_humidity", "absolute_humidity", "benzene"]
HGB = dict(max_iter=150, learning_rate=0.08, max_leaf_nodes=31, min_samples_leaf=40, random_state=0)


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    df = raw.copy()
    for col, (lo, hi) in COLUMNS.items():
        df.loc[(df[col] == -200) | (df[col] < lo) | (df[col] > hi), col] = np.nan
    df = df.drop_duplicates(["station", "timestamp"])
    out = []
    for station, g in df.groupby("station"):
        g = g.set_index("timestamp").resample("h").first()
        for col in COLUMNS:  # interpolate gaps of up to 3 hours (across midnight, unlike the platform)
            s = g[col]
            run = s.isna().groupby((s.notna()).cumsum()).transform("sum")
            g[col] = s.interpolate(limit_area="inside").where(s.notna() | (run <= 3))
        g["station"] = station
        out.append(g.reset_index())
    return pd.concat(out, ignore_index=True)


def features(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["station", "timestamp"]).reset_index(drop=True)
    grouped = df.groupby("station")
    for col in LAGGED:
        for lag in LAGS:
            df[f"{col}_lag{lag}"] = grouped[col].shift(lag)
        for w in WINDOWS:
            roll = grouped[col].rolling(w, min_periods=w // 2)
            df[f"{col}_mean{w}h"] = roll.mean().reset_index(level=0, drop=True)
            df[f"{col}_std{w}h"] = roll.std().reset_index(level=0, drop=True)
    t = df["timestamp"]
    df["hour"], df["dayofweek"], df["month"] = t.dt.hour, t.dt.dayofweek, t.dt.month
    df["is_weekend"] = (t.dt.dayofweek >= 5).astype(int)
    return df


def training_rows(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["hour_index"] = df.groupby("station").cumcount()
    df["horizon"] = 1 + (df["hour_index"] + df.groupby("station").ngroup()) % 24
    target_time = df["timestamp"] + pd.to_timedelta(df["horizon"], unit="h")
    df["target_hour"], df["target_dayofweek"] = target_time.dt.hour, target_time.dt.dayofweek
    df["target_month"], df["target_is_weekend"] = (
        target_time.dt.month,
        (target_time.dt.dayofweek >= 5).astype(int),
    )
    values = df.set_index(["station", "timestamp"])
    for col in ("no2", "co"):
        df[f"label_{col}"] = (
            values[col].reindex(list(zip(df["station"], target_time, strict=True))).to_numpy()
        )
        base_time = target_time - pd.Timedelta(hours=24)
        df[f"base_{col}"] = values[col].reindex(list(zip(df["station"], base_time, strict=True))).to_numpy()
    future_max = df.groupby("station")["no2"].transform(
        lambda s: s[::-1].rolling(12, min_periods=6).max()[::-1].shift(-1)
    )
    df["label_exceed"] = (future_max > 150).astype(float).where(future_max.notna())
    times = np.sort(df["timestamp"].unique())
    c1, c2 = times[int(len(times) * 0.70)], times[int(len(times) * 0.85)]
    gap = pd.Timedelta(hours=24)
    df["split"] = np.select(
        [df.timestamp < c1 - gap, (df.timestamp >= c1) & (df.timestamp < c2 - gap), df.timestamp >= c2],
        ["train", "calibration", "holdout"], default="gap",
    )  # fmt: skip
    return df[df.split != "gap"]


def run(stations: int, days: int, seed: int = 42) -> dict[str, float]:
    start = pd.Timestamp("2024-01-01", tz="UTC")
    raw = simulate_readings(station_ids(stations), start, start + pd.Timedelta(days=days), seed)
    rows = training_rows(features(clean(raw)))
    feature_cols = [f"{c}_lag{lag}" for c in LAGGED for lag in LAGS]
    feature_cols += [f"{c}_{s}{w}h" for c in LAGGED for w in WINDOWS for s in ("mean", "std")]
    feature_cols += COVARIATES + ["hour", "dayofweek", "month", "is_weekend"]
    reg_cols = feature_cols + [
        "horizon",
        "target_hour",
        "target_dayofweek",
        "target_month",
        "target_is_weekend",
    ]
    train, cal, hold = (rows[rows.split == s] for s in ("train", "calibration", "holdout"))

    result: dict[str, float] = {"rows": float(len(rows))}
    candidates = {
        "hgb": lambda: HistGradientBoostingRegressor(**HGB),
        "ridge": lambda: make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), Ridge(alpha=1.0)),
    }
    fitted: dict[str, dict] = {}
    skill = {}
    for name, make in candidates.items():
        fitted[name], ratios = {}, []
        for col in ("no2", "co"):
            t, c = train.dropna(subset=[f"label_{col}"]), cal.dropna(subset=[f"label_{col}", f"base_{col}"])
            model = make().fit(t[reg_cols], t[f"label_{col}"])
            fitted[name][col] = model
            mae = np.mean(np.abs(model.predict(c[reg_cols]) - c[f"label_{col}"]))
            ratios.append(mae / np.mean(np.abs(c[f"base_{col}"] - c[f"label_{col}"])))
        skill[name] = float(np.mean(ratios))
    best = min(skill, key=skill.get)
    for col in ("no2", "co"):
        model = fitted[best][col]
        t = train.dropna(subset=[f"label_{col}"])  # normalized conformal: a model of log |residual|
        train_resid = np.abs(model.predict(t[reg_cols]) - t[f"label_{col}"].to_numpy())
        difficulty = HistGradientBoostingRegressor(
            max_iter=60, max_leaf_nodes=15, min_samples_leaf=100, random_state=0
        )
        difficulty.fit(t[reg_cols], np.log(train_resid + max(np.median(train_resid) * 0.05, 1e-6)))
        c = cal.dropna(subset=[f"label_{col}"])
        score = np.abs(model.predict(c[reg_cols]) - c[f"label_{col}"].to_numpy()) / np.exp(
            difficulty.predict(c[reg_cols])
        )
        width = {}
        for h, r in pd.Series(score).groupby(c["horizon"].to_numpy()):
            r = np.sort(r.to_numpy())
            width[h] = r[min(len(r), math.ceil((len(r) + 1) * 0.9)) - 1]
        h = hold.dropna(subset=[f"label_{col}", f"base_{col}"])
        pred = model.predict(h[reg_cols])
        half = h["horizon"].map(width).to_numpy() * np.exp(difficulty.predict(h[reg_cols]))
        result[f"{col}.mae"] = float(np.mean(np.abs(pred - h[f"label_{col}"])))
        result[f"{col}.baseline_mae"] = float(np.mean(np.abs(h[f"base_{col}"] - h[f"label_{col}"])))
        result[f"{col}.coverage"] = float(np.mean(np.abs(pred - h[f"label_{col}"]) <= half))

    t, c, h = (x.dropna(subset=["label_exceed"]) for x in (train, cal, hold))
    classifiers = {
        "hgb": HistGradientBoostingClassifier(**HGB),
        "logistic": make_pipeline(
            SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(C=1.0, max_iter=500)
        ),
    }
    brier = {}
    for name, clf in classifiers.items():
        clf.fit(t[feature_cols], t["label_exceed"].astype(int))
        brier[name] = float(np.mean((clf.predict_proba(c[feature_cols])[:, 1] - c["label_exceed"]) ** 2))
    chosen = classifiers[min(brier, key=brier.get)]
    result["exceedance.brier"] = float(
        np.mean((chosen.predict_proba(h[feature_cols])[:, 1] - h["label_exceed"]) ** 2)
    )
    return result
