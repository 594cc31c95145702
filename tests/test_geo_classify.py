"""Choropleth classes: bins, legend labels and class per area."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from observatory.geo.classify import classify


def test_quantiles_bins_labels_and_missing():
    values = pd.Series([*range(1, 11), np.nan], index=[f"a{i}" for i in range(11)], dtype=float)
    c = classify(values, "quantiles", k=5)
    np.testing.assert_allclose(c.bins, np.percentile(np.arange(1, 11), [20, 40, 60, 80, 100]))
    assert c.labels[0] == "1.0 – 2.8" and c.labels[-1] == "8.2 – 10.0"
    assert c.counts == [2, 2, 2, 2, 2]
    assert list(c.classes.iloc[:10]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert c.classes.isna().iloc[-1]
    assert c.classes.index.equals(values.index)


def test_natural_breaks_separates_groups():
    values = [1, 2, 3, 2, 50, 52, 51, 200, 210]
    c = classify(values, "natural_breaks", k=3)
    assert c.bins == [3, 52, 210]
    assert list(c.classes) == [0, 0, 0, 0, 1, 1, 1, 2, 2]


def test_natural_breaks_on_many_values_is_fast_and_reproducible():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(10, 1, 900), rng.normal(100, 5, 300)])
    a = classify(values, "natural_breaks", k=2)
    b = classify(values, "natural_breaks", k=2)
    assert a.bins == b.bins
    assert a.counts == [900, 300]


def test_equal_interval_and_fixed():
    eq = classify([0, 10, 20, 30, 40], "equal_interval", k=4)
    np.testing.assert_allclose(eq.bins, [10, 20, 30, 40])
    fixed = classify([5, 15, 25, 120], "fixed", bins=[10, 50, 100], fmt="{:.0f}")
    # values above the last bound get an extra class ending at the maximum
    assert fixed.bins == [10, 50, 100, 120]
    assert fixed.labels == ["5 – 10", "10 – 50", "50 – 100", "100 – 120"]
    assert list(fixed.classes) == [0, 1, 1, 3]


def test_fewer_distinct_values_than_classes_and_errors():
    c = classify([1, 1, 2], "quantiles", k=5)
    assert c.k <= 2
    with pytest.raises(ValueError, match="bins"):
        classify([1, 2], "fixed")
    with pytest.raises(ValueError, match="scheme"):
        classify([1, 2], "pretty")
    with pytest.raises(ValueError, match="no values"):
        classify([np.nan], "quantiles")
