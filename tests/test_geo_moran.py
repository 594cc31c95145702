"""Local Moran's I: equal to esda on Columbus, seedable, and Chicago's homicide clusters."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from esda.moran import Moran_Local
from libpysal import examples
from libpysal.weights import Queen

from observatory.geo.moran import MORAN_CLUSTERS, local_moran
from tests.test_geo_hotspots import chicago_homicide_areas


@pytest.fixture(scope="module")
def columbus() -> gpd.GeoDataFrame:
    return gpd.read_file(examples.get_path("columbus.shp"))


def test_local_moran_matches_esda(columbus):
    result = local_moran(columbus, "CRIME", permutations=999, seed=12345)
    w = Queen.from_dataframe(columbus, use_index=False)
    w.transform = "r"
    ref = Moran_Local(columbus["CRIME"].to_numpy(float), w, permutations=999, seed=12345, n_jobs=1)
    np.testing.assert_allclose(result["moran_i"], ref.Is, atol=1e-12)
    np.testing.assert_allclose(result["moran_p_folded"], ref.p_sim, atol=1e-12)
    # Two-sided, the convention of Gi*: twice esda's folded (one-tailed) pseudo p-value.
    np.testing.assert_allclose(result["moran_p"], np.minimum(1, 2 * ref.p_sim), atol=1e-12)
    np.testing.assert_array_equal(result["quadrant"], ref.q)
    labels = {1: "high-high", 2: "low-high", 3: "low-low", 4: "high-low"}
    expected = [labels[q] if p < 0.025 else "not significant" for q, p in zip(ref.q, ref.p_sim, strict=True)]
    assert list(result["cluster"].astype(str)) == expected
    assert set(result["cluster"].cat.categories) == set(MORAN_CLUSTERS)
    assert {"high-high", "low-low"} <= set(expected)


def test_local_moran_seeded(columbus):
    a = local_moran(columbus, "CRIME", permutations=199, seed=3)
    b = local_moran(columbus, "CRIME", permutations=199, seed=3)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="permutations"):
        local_moran(columbus, "CRIME", permutations=0)


def test_fdr_is_stricter(columbus):
    plain = local_moran(columbus, "CRIME", seed=1)
    strict = local_moran(columbus, "CRIME", seed=1, fdr=True)
    assert (strict["cluster"] != "not significant").sum() <= (plain["cluster"] != "not significant").sum()
    sig = strict["cluster"] != "not significant"
    assert (strict.loc[sig, "cluster"] == plain.loc[sig, "cluster"]).all()


def test_chicago_homicides_high_high():
    areas = chicago_homicide_areas()
    # 9,999 permutations: the Monte Carlo error of p (about 0.002) is then small against the 0.05 cut-off.
    result = local_moran(areas, "homicides", permutations=9999, seed=2015)
    # Two-sided 5% (the convention shared with Gi*): the West Side core is a high-high cluster...
    for name in ("NORTH LAWNDALE", "WEST GARFIELD PARK"):
        assert result.loc[name, "cluster"] == "high-high", (name, result.loc[name].to_dict())
    # ...Austin and West Englewood (folded p about 0.035-0.045) only at 10% two-sided, GeoDa's usual reading.
    for name in ("AUSTIN", "WEST ENGLEWOOD"):
        assert result.loc[name, "quadrant"] == 1
        assert 0.05 < result.loc[name, "moran_p"] < 0.10
    at_10 = local_moran(areas, "homicides", permutations=9999, seed=2015, alpha=0.10)
    for name in ("AUSTIN", "WEST ENGLEWOOD", "NORTH LAWNDALE"):
        assert at_10.loc[name, "cluster"] == "high-high", (name, at_10.loc[name].to_dict())
    # Englewood is in the high-high quadrant but its folded pseudo p is about 0.055 (two-sided 0.11).
    assert result.loc["ENGLEWOOD", "quadrant"] == 1
    assert 0.05 < result.loc["ENGLEWOOD", "moran_p_folded"] < 0.10
    assert result.loc["ENGLEWOOD", "moran_p"] > 0.10
    assert at_10.loc["ENGLEWOOD", "cluster"] == "not significant"
    assert not (result.loc[["LINCOLN PARK", "LAKE VIEW"], "cluster"] == "high-high").any()
