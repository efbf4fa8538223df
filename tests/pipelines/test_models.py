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
