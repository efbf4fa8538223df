"""A census-income-like survey for the example tabular pipeline, generated offline: a pure function of
(rows, seed). `census_csv` writes it the way real exports arrive: no header row, `?` for unknown values,
a space after every comma, sex coded `1`/`2` and some labels with a trailing period (`>50K.`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

EDUCATION = [
    "Preschool", "1st-4th", "5th-6th", "7th-8th", "9th", "10th", "11th", "12th", "HS-grad",
    "Some-college", "Assoc-voc", "Assoc-acdm", "Bachelors", "Masters", "Prof-school", "Doctorate",
]  # fmt: skip
EDUCATION_WEIGHTS = [1, 2, 3, 6, 5, 8, 10, 4, 90, 65, 12, 10, 48, 16, 5, 4]
WORKCLASS = ["Private", "Self-emp-not-inc", "Self-emp-inc", "Local-gov", "State-gov", "Federal-gov"]
MARITAL = ["Married-civ-spouse", "Never-married", "Divorced", "Separated", "Widowed"]
OCCUPATION = [
    "Prof-specialty", "Craft-repair", "Exec-managerial", "Adm-clerical", "Sales", "Other-service",
    "Machine-op-inspct", "Transport-moving", "Handlers-cleaners", "Tech-support",
]  # fmt: skip
OCCUPATION_EFFECT = dict(
    zip(OCCUPATION, [0.9, 0.1, 1.1, -0.2, 0.2, -1.0, -0.4, -0.2, -0.9, 0.4], strict=True)
)
COUNTRIES = ["United-States", "Mexico", "Philippines", "Germany", "Canada", "India"]
COLUMNS = [
    "age", "workclass", "education", "education_num", "marital_status", "occupation", "relationship",
    "sex", "capital_gain", "capital_loss", "hours_per_week", "union_member", "native_country",
    "surveyed_on", "income",
]  # fmt: skip


def simulate_census(rows: int, seed: int = 0) -> pd.DataFrame:
    """Clean survey rows: income above 50K depends on education, age, hours, marriage, occupation, sex
    and capital gains through a logistic model, so a good classifier beats the majority class clearly."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.gamma(6.0, 6.5, rows) + 16, 17, 90).round()
    edu_idx = rng.choice(len(EDUCATION), rows, p=np.array(EDUCATION_WEIGHTS) / sum(EDUCATION_WEIGHTS))
    sex = rng.choice(["Male", "Female"], rows, p=[0.67, 0.33])
    married = np.where(
        rng.random(rows) < np.clip((age - 18) / 40, 0.05, 0.6),
        "Married-civ-spouse",
        rng.choice(MARITAL[1:], rows),
    )
    relationship = np.where(
        married == "Married-civ-spouse",
        np.where(sex == "Male", "Husband", "Wife"),
        rng.choice(["Not-in-family", "Own-child", "Unmarried"], rows),
    )
    occupation = rng.choice(OCCUPATION, rows)
    hours = np.clip(rng.normal(40, 11, rows) + (sex == "Male") * 3, 1, 99).round()
    gain = np.where(rng.random(rows) < 0.08, rng.lognormal(8.5, 1.0, rows), 0).round()
    loss = np.where(rng.random(rows) < 0.04, rng.lognormal(7.4, 0.3, rows), 0).round()
    logit = (
        -9.2
        + 0.33 * (edu_idx + 1)
        + 0.045 * age
        - 0.00045 * (age - 45) ** 2 * 10
        + 0.035 * hours
        + 1.9 * (married == "Married-civ-spouse")
        + np.vectorize(OCCUPATION_EFFECT.get)(occupation)
        + 0.35 * (sex == "Male")
        + 2.5 * (gain > 5000)
        + 0.8 * (loss > 1500)
    )
    income = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K")
    days = rng.integers(0, 365, rows)
    return pd.DataFrame(
        {
            "age": age.astype(int),
            "workclass": rng.choice(WORKCLASS, rows, p=[0.7, 0.08, 0.04, 0.07, 0.05, 0.06]),
            "education": np.array(EDUCATION)[edu_idx],
            "education_num": edu_idx + 1,
            "marital_status": married,
            "occupation": occupation,
            "relationship": relationship,
            "sex": sex,
            "capital_gain": gain.astype(int),
            "capital_loss": loss.astype(int),
            "hours_per_week": hours.astype(int),
            "union_member": rng.random(rows) < 0.12,
            "native_country": rng.choice(COUNTRIES, rows, p=[0.9, 0.03, 0.02, 0.02, 0.02, 0.01]),
            "surveyed_on": (pd.Timestamp("1994-01-01") + pd.to_timedelta(days, unit="D")).strftime(
                "%Y-%m-%d"
            ),
            "income": income,
        },
        columns=COLUMNS,
    )


def census_csv(frame: pd.DataFrame, seed: int = 0, unknown_rate: float = 0.04) -> bytes:
    """The rows as a messy export: no header, `, ` between values, `?` for some unknown categories,
    sex as `1`/`2`, `yes`/`no` flags and a trailing period on about a third of the labels."""
    rng = np.random.default_rng(seed + 1)
    out = frame.copy().astype(object)
    out["sex"] = frame["sex"].map({"Male": "1", "Female": "2"})
    out["union_member"] = np.where(frame["union_member"], "yes", "no")
    for column in ("workclass", "occupation", "native_country"):
        out.loc[rng.random(len(out)) < unknown_rate, column] = "?"
    dotted = rng.random(len(out)) < 0.33
    out.loc[dotted, "income"] = frame.loc[dotted, "income"] + "."
    lines = (", ".join(str(v) for v in row) for row in out.itertuples(index=False, name=None))
    return ("\n".join(lines) + "\n").encode()
