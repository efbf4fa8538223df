"""Sensor-network simulator: the embedded default source of air-quality readings.

Every value is a pure function of (station, hour, seed): noise comes from a counter-based hash, never from
a stateful generator, so any partition can be regenerated exactly and in any order. The readings carry
what real networks do: traffic-driven daily cycles, weekday/weekend, seasons, weather coupling, sensor
drift, noise, missing hours and days, sentinel values and duplicated rows.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import pandas as pd

SENTINEL = -200.0
HOUR_NS = 3_600_000_000_000
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)

# Independent noise streams, one per use.
_S_TEMP_SLOW, _S_TEMP_FAST, _S_HUMID, _S_WIND, _S_NOX, _S_NO2, _S_CO, _S_BENZ = range(1, 9)
_S_GAP_HOUR, _S_GAP_DAY, _S_SENTINEL, _S_FAULT, _S_DUP = range(20, 25)
_S_STATION = 40
_S_OUTAGE, _S_SHAPE = 50, 60

Scenario = Literal["analyser_outage", "noisy_winter", "diurnal_dominated"]
SCENARIOS: tuple[str, ...] = get_args(Scenario)
"""Harder data, as real networks have it (declared per simulator source or passed by a benchmark):
- analyser_outage: CO's analyser is out for 3-10 days at a time, roughly one stretch in every 40 days;
- noisy_winter: the pollutants' noise is up to twice as large in winter as in summer;
- diurnal_dominated: CO follows a daily shape that changes only slowly from day to day, so "the same hour
  yesterday" is hard to beat (the features see only a few of yesterday's hours)."""

POLLUTANTS = ("co", "no2", "nox", "benzene")
COLUMNS = ("co", "no2", "nox", "benzene", "temperature", "relative_humidity", "absolute_humidity")


def station_ids(count: int) -> list[str]:
    """Station ids of a simulated network of `count` stations."""
    return [f"S{i:03d}" for i in range(1, count + 1)]


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def _uniform(seed: int, stream: int, station: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Uniform (0, 1) as a pure function of (seed, stream, station, counter)."""
    h = _splitmix(np.uint64(seed) ^ (np.uint64(stream) << np.uint64(48)) ^ station.astype(np.uint64))
    h = _splitmix(h ^ counter.astype(np.int64).astype(np.uint64))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def _normal(seed: int, stream: int, station: np.ndarray, counter: np.ndarray) -> np.ndarray:
    u1 = _uniform(seed, stream, station, counter)
    u2 = _uniform(seed, stream + 1000, station, counter)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _smooth_noise(seed: int, stream: int, station: np.ndarray, hour: np.ndarray, period: int) -> np.ndarray:
    """Value noise: normals at knots every `period` hours, smoothly interpolated (still pure per hour)."""
    knot = np.floor_divide(hour, period)
    frac = (hour - knot * period) / period
    frac = frac * frac * (3 - 2 * frac)
    a = _normal(seed, stream, station, knot)
    b = _normal(seed, stream, station, knot + 1)
    return a + (b - a) * frac


def _station_key(stations: Sequence[str]) -> np.ndarray:
    return np.array([zlib.crc32(s.encode()) for s in stations], dtype=np.uint64)


def _analyser_out(seed: int, station: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether the analyser is out on `day`: one stretch of 3-10 days at a random place in every 40 days."""
    block, offset = np.floor_divide(day, 40), np.mod(day, 40)
    first = np.floor(_uniform(seed, _S_OUTAGE, station, block) * 30)
    length = 3 + np.floor(_uniform(seed, _S_OUTAGE + 1, station, block) * 8)
    return (offset >= first) & (offset < first + length)


def simulate_readings(
    stations: Sequence[str],
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    scenarios: Sequence[str] = (),
) -> pd.DataFrame:
    """Hourly readings for `stations` in [start, end), as the network reports them (gaps, -200s, dupes),
    with the harder `scenarios` (see SCENARIOS) on top.

    Columns: station, timestamp (UTC), co (mg/m3), no2 (ug/m3), nox (ppb), benzene (ug/m3),
    temperature (degC), relative_humidity (%), absolute_humidity (g/m3).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    times = pd.date_range(start, end, freq="h", inclusive="left")
    n_st, n_t = len(stations), len(times)
    if n_st == 0 or n_t == 0:
        return pd.DataFrame(columns=["station", "timestamp", *COLUMNS]).astype({"station": "string"})

    skey = np.repeat(_station_key(stations), n_t)
    hour = np.tile(times.asi8 // HOUR_NS, n_st)
    ts = np.tile(times, n_st)
    hod = np.tile(times.hour.to_numpy(), n_st).astype(float)
    dow = np.tile(times.dayofweek.to_numpy(), n_st)
    doy = np.tile(times.dayofyear.to_numpy(), n_st).astype(float)
    day = hour // 24
    one = np.zeros_like(hour)

    # Per-station constants: pollution level, temperature offset, drift rate.
    level = np.exp(0.35 * _normal(seed, _S_STATION, skey, one))
    t_offset = 1.5 * _normal(seed, _S_STATION + 1, skey, one)
    drift = 0.04 * _normal(seed, _S_STATION + 2, skey, one)  # relative drift per year

    season = np.cos(2 * np.pi * (doy - 15) / 365.25)  # +1 mid-January, -1 mid-July
    temperature = (
        14
        - 9 * season
        + 4.5 * np.sin(2 * np.pi * (hod - 9) / 24)
        + 3.0 * _smooth_noise(seed, _S_TEMP_SLOW, skey, hour, 72)
        + 0.8 * _smooth_noise(seed, _S_TEMP_FAST, skey, hour, 6)
        + t_offset
    )
    rh = np.clip(
        62 + 12 * season - 1.6 * (temperature - 14) + 8 * _smooth_noise(seed, _S_HUMID, skey, hour, 48),
        8,
        100,
    )
    saturation = 6.112 * np.exp(17.67 * temperature / (temperature + 243.5))
    ah = saturation * rh * 2.1674 / (273.15 + temperature)

    weekday = dow < 5
    rush = np.exp(-0.5 * ((hod - 8) / 1.6) ** 2) + 0.9 * np.exp(-0.5 * ((hod - 18.5) / 2.0) ** 2)
    leisure = 0.55 * np.exp(-0.5 * ((hod - 14) / 3.5) ** 2)
    traffic = 0.15 + np.where(weekday, rush, leisure) + np.where(dow == 5, 0.1, 0.0)
    wind = np.exp(0.35 * _smooth_noise(seed, _S_WIND, skey, hour, 36))
    dispersion = (1 + 0.35 * season) / wind

    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise ValueError(f"unknown simulator scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    noise = 1 + np.clip(season, 0, None) if "noisy_winter" in scenarios else 1.0
    years = (hour - 473_352) / 8766.0  # years since 2024-01-01
    nox = level * (35 + 300 * traffic) * dispersion * np.exp(0.15 * noise * _normal(seed, _S_NOX, skey, hour))
    no2 = (
        (14 + 0.42 * nox**0.93)
        * np.exp(0.08 * noise * _normal(seed, _S_NO2, skey, hour))
        * (1 + drift * years)
    )
    co = (
        (0.15 + 0.0072 * nox)
        * np.exp(0.10 * noise * _normal(seed, _S_CO, skey, hour))
        * (1 - 0.5 * drift * years)
    )
    if "diurnal_dominated" in scenarios:
        # One slowly changing level per station and hour of day: yesterday's same hour knows it, the model's
        # few lags do not.
        shape_key = skey ^ (hod.astype(np.uint64) * np.uint64(0x9E3779B1))
        co = co * np.exp(0.6 * _smooth_noise(seed, _S_SHAPE, shape_key, day, 9))
    benzene = (0.4 + 0.026 * nox) * np.exp(0.12 * _normal(seed, _S_BENZ, skey, hour))

    values = {
        "co": np.round(co, 1),
        "no2": np.round(no2, 0),
        "nox": np.round(nox, 0),
        "benzene": np.round(benzene, 1),
        "temperature": np.round(temperature, 1),
        "relative_humidity": np.round(rh, 1),
        "absolute_humidity": np.round(ah, 4),
    }
    # Sentinels: single readings at ~1.5%, and whole-instrument faults (every pollutant) at ~0.5% of hours.
    fault = _uniform(seed, _S_FAULT, skey, hour) < 0.005
    for i, name in enumerate(COLUMNS):
        lost = _uniform(seed, _S_SENTINEL + 100 * i, skey, hour) < 0.015
        if name in POLLUTANTS:
            lost |= fault
        if name == "co" and "analyser_outage" in scenarios:
            lost |= _analyser_out(seed, skey, day)
        values[name] = np.where(lost, SENTINEL, values[name])

    frame = pd.DataFrame(
        {
            "station": pd.array(np.repeat(np.asarray(stations, dtype=object), n_t), dtype="string"),
            "timestamp": ts,
        }
    )
    for name in COLUMNS:
        frame[name] = values[name]

    # Missing hours (~1%) and whole missing days (~0.4% of station-days); duplicated rows (~0.5%).
    keep = (_uniform(seed, _S_GAP_HOUR, skey, hour) >= 0.01) & (
        _uniform(seed, _S_GAP_DAY, skey, day) >= 0.004
    )
    dupes = keep & (_uniform(seed, _S_DUP, skey, hour) < 0.005)
    frame = pd.concat([frame[keep], frame[dupes]], ignore_index=True)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.sort_values(["station", "timestamp"], kind="stable", ignore_index=True)
