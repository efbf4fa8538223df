import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from pipelines.models import build_estimator
from pipelines.spec import ModelCandidate


def test_linear_candidates_impute_the_same_medians_as_scikit_learns_median_imputer():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(1001, 4)), columns=["a", "b", "c", "d"])
    x.loc[rng.random(1001) < 0.3, "a"] = np.nan
    x.loc[::2, "b"] = np.nan  # an even number of present values: the mean of the middle two
    x["d"] = np.nan  # no values at all: kept, filled with 0
    y = rng.normal(size=1001)

    ridge = build_estimator(ModelCandidate(name="r", algorithm="ridge", params={}), "regression").fit(x, y)
    ours = ridge[0]
    reference = SimpleImputer(strategy="median", keep_empty_features=True).fit(x)

    np.testing.assert_array_equal(ours.statistics_, reference.statistics_)
    np.testing.assert_array_equal(ours.transform(x), reference.transform(x))
    assert ours.statistics_[3] == 0.0


def test_the_candidates_loss_and_target_transform_reach_the_estimator_and_are_undone_on_predict():
    from pipelines.models import ForecastModel, build_estimator, requested_candidate
    from pipelines.spec import ModelCandidate, load_specs

    mae = ModelCandidate(name="m", algorithm="hist_gradient_boosting", loss="absolute_error")
    assert build_estimator(mae, "regression")[-1].loss == "absolute_error"
    q = ModelCandidate(name="q", algorithm="hist_gradient_boosting", loss="quantile", quantile=0.8)
    assert (build_estimator(q, "regression")[-1].loss, build_estimator(q, "regression")[-1].quantile) == (
        "quantile",
        0.8,
    )
    forest = ModelCandidate(name="f", algorithm="random_forest", loss="absolute_error")
    assert build_estimator(forest, "regression")[-1].criterion == "absolute_error"

    spec = load_specs()["air_quality_landing"]
    task = spec.task("forecast")
    requested = requested_candidate(spec, task, "hist_gradient_boosting", {"max_iter": 20})
    assert requested.loss == "absolute_error" and requested.target_transform == "relative_to_trailing_mean"

    x = pd.DataFrame({"co_mean24h": [2.0, np.nan], "horizon": [1.0, 2.0]})
    y = np.array([3.0, 1.5])
    model = ForecastModel({}, {}, {}, list(x.columns), 0.9, {"co": "relative_to_trailing_mean"}, {"co": 1.0})
    fitted = model.transform("co", y, x)
    assert fitted.tolist() == [1.0, 0.5]  # relative to the trailing mean, or to the train median without one
    assert model.inverse_transform("co", fitted, x.to_numpy()).tolist() == y.tolist()
    logged = ForecastModel({}, {}, {}, list(x.columns), 0.9, {"co": "log1p"})
    np.testing.assert_allclose(logged.inverse_transform("co", logged.transform("co", y, x), x), y)
