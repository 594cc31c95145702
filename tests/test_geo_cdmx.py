"""Everything in observatory.geo on Mexico City's 847 police quadrants and 1,814 colonias (real data)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from observatory.geo import (
    build_weights,
    classify,
    eb_rates,
    emerging_hotspots,
    gi_star,
    grid_hotspots,
    kernel_density,
    local_moran,
    spatial_eb_rates,
)
from tests.conftest import realdata


@pytest.fixture(scope="module")
def points() -> gpd.GeoDataFrame:
    """The 131,141 geocoded SSP incident points of 2013-2016 (1,551 rows have lat/long "NA")."""
    rows = pd.read_csv(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), na_values=["NA"])
    assert len(rows) == 132_692
    rows = rows.dropna(subset=["lat", "long"])
    month = rows["year"].astype(str) + "-" + rows["month"].astype(str).str.zfill(2)
    return gpd.GeoDataFrame({"month": month.to_numpy()}, geometry=gpd.points_from_xy(rows["long"], rows["lat"]),
                            crs="EPSG:4326")


def count_in(areas: gpd.GeoDataFrame, pts: gpd.GeoDataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """Points per area (total, and long area x month counts) by point-in-polygon."""
    shapes = gpd.GeoDataFrame(geometry=areas.geometry.to_numpy(), crs=areas.crs)  # positional index
    joined = gpd.sjoin(pts, shapes, predicate="within")
    joined = joined[~joined.index.duplicated()]
    joined["area"] = areas.index.to_numpy()[joined["index_right"].to_numpy()]
    total = joined.groupby("area").size().reindex(areas.index, fill_value=0)
    monthly = joined.groupby(["area", "month"]).size().rename("count").reset_index()
    return total, monthly


@pytest.fixture(scope="module")
def quadrants(points):
    areas = gpd.read_file(realdata("cdmx", "cuadrantes.geojson")).set_index("cuadrante")
    total, monthly = count_in(areas, points)
    areas["incidents"] = total
    return areas, monthly


def test_quadrants_weights_and_islands(quadrants):
    areas, _ = quadrants
    for kind, options in (("queen", {}), ("rook", {}), ("knn", {"k": 8}), ("distance", {"distance": 2000})):
        sw = build_weights(areas, kind, **options)
        assert sw.n == 847
        assert all(sw.w.cardinalities[i] > 0 for i in range(sw.n))  # islands attached
        assert set(sw.islands) <= set(areas.index)
        for island in sw.islands:
            assert len(sw.w.neighbors[areas.index.get_loc(island)]) >= 1
        if kind == "distance":
            assert len(sw.islands) > 0  # outlying quadrants more than 2 km from any other centroid


def test_quadrants_hotspots_and_clusters(quadrants):
    areas, _ = quadrants
    assert areas["incidents"].sum() > 129_000  # 873 geocoded points fall in no quadrant
    gi = gi_star(areas, "incidents")
    hot = gi["hotspot_class"].astype(str).str.startswith("hot")
    cold = gi["hotspot_class"].astype(str).str.startswith("cold")
    assert hot.sum() > 20
    assert areas.loc[hot, "incidents"].mean() > 2 * areas.loc[~hot, "incidents"].mean()
    # the boroughs with the fewest incidents per quadrant (Cuajimalpa, Milpa Alta) have no hot spot
    quietest = areas.groupby("alcaldia")["incidents"].mean().nsmallest(2).index
    assert not hot[areas["alcaldia"].isin(quietest)].any()
    if cold.any():
        assert areas.loc[cold, "incidents"].mean() < areas["incidents"].mean()
    perm = gi_star(areas, "incidents", permutations=99, seed=1, fdr=True)
    assert perm["gi_p"].between(0, 1).all()
    lisa = local_moran(areas, "incidents", permutations=99, seed=1)
    assert (lisa.loc[lisa["cluster"] == "high-high", "quadrant"] == 1).all()
    assert (lisa["cluster"] == "high-high").sum() > 10


def test_quadrants_rates_classes_and_emerging(quadrants):
    areas, monthly = quadrants
    # Quadrant populations are not published: none -> all flagged; about 10,000 residents each is the
    # SSP's design figure, used here only to run the smoothing.
    flagged = eb_rates(areas["incidents"], pd.Series(np.nan, index=areas.index))
    assert flagged["population_missing"].all() and flagged["eb_rate"].isna().all()
    areas = areas.assign(pop=10_000)
    smooth = spatial_eb_rates(areas, "incidents", "pop")
    assert smooth["seb_rate"].notna().all()
    assert smooth["seb_rate"].std() < smooth["rate"].std()  # smoothing shrinks the spread
    classes = classify(smooth["seb_rate"], "natural_breaks", k=5)
    assert sum(classes.counts) == 847 and len(classes.labels) == 5
    emerging = emerging_hotspots(monthly, areas, current_periods=3)
    assert len(emerging.attrs["periods"]) == 45  # 2013-01 .. 2016-09
    assert emerging["category"].notna().all()
    assert (emerging["category"] != "none").sum() > 0


def test_quadrant_grid_and_density(points, quadrants):
    areas, _ = quadrants
    grid = grid_hotspots(points, cell_size=1000, area=areas)
    assert grid["count"].sum() + grid.attrs["points_outside"] == len(points)
    assert (grid["hotspot_class"] == "hot 99%").any()
    density = kernel_density(points, cell_size=200, bandwidth=500)
    assert density.crs.to_epsg() == 32614
    assert density.n_points == len(points)


def test_colonias_hotspots_and_rates(points):
    colonias = gpd.read_file(realdata("cdmx", "colonias_iecm.gpkg")).to_crs("EPSG:4326").set_index("ID")
    total, _ = count_in(colonias, points)
    colonias["incidents"] = total
    assert len(colonias) == 1814
    gi = gi_star(colonias, "incidents")
    assert (gi["hotspot_class"] == "hot 99%").sum() > 20
    assert len(gi.attrs["islands"]) > 0  # a few colonias touch no other: given their nearest, and reported
    rates = eb_rates(colonias["incidents"], colonias["SUMPOB1"])
    ok = ~rates["population_missing"]
    assert ok.sum() > 1500
    assert rates.loc[ok, "eb_rate"].notna().all()
    # EB pulls the smallest colonias' extreme rates towards the city mean
    small = colonias["SUMPOB1"].where(ok).nsmallest(50).index
    assert rates.loc[small, "eb_rate"].std() < rates.loc[small, "rate"].std()
