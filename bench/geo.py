"""Timings of observatory.geo on real data (not a test: run by hand, `python bench/geo.py`).

Reads ../shared/realdata (or $OBSERVATORY_SHARED_DIR/realdata). Targets: each step on the 35,746 New
York vehicle thefts and on Mexico City's 131,141 geocoded points / 847 quadrants runs in seconds.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from observatory.geo import (
    build_weights,
    classify,
    density_cells,
    eb_rates,
    emerging_hotspots,
    gi_star,
    grid_hotspots,
    kernel_density,
    local_moran,
)

ROOT = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("OBSERVATORY_SHARED_DIR", ROOT.parent / "shared")) / "realdata"


def timed(label: str, func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    print(f"{label:<55} {time.perf_counter() - start:7.2f} s")
    return result


def main() -> None:
    warnings.simplefilter("ignore")
    nyc = pd.read_csv(REALDATA / "us_code" / "nyc_vehicle_thefts_2014_2017.csv")
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(nyc["longitude"], nyc["latitude"]), crs="EPSG:4326")
    print(f"NYC vehicle thefts: {len(pts):,} points")
    kde = timed("KDE, Scott bandwidth, 100 m cells", kernel_density, pts)
    print(f"   bandwidth {kde.bandwidth:.0f} m, grid {kde.shape}")
    timed("KDE, 300 m bandwidth, 50 m cells", kernel_density, pts, bandwidth=300, cell_size=50)
    timed("KDE cells -> GeoDataFrame EPSG:4326", density_cells, kde)
    for shape, size in (("square", 500), ("hex", 500), ("square", 250)):
        grid = timed(f"grid hot spots, {shape} {size} m", grid_hotspots, pts, cell_size=size, shape=shape)
        print(f"   {len(grid):,} cells, {(grid['hotspot_class'] == 'hot 99%').sum():,} hot 99%")
    timed("grid hot spots, square 500 m, 999 permutations", grid_hotspots, pts, cell_size=500,
          permutations=999, seed=1)

    rows = pd.read_csv(REALDATA / "cdmx" / "ssp_cdmx_crime_lat_long_2013_2016.csv", na_values=["NA"])
    rows = rows.dropna(subset=["lat", "long"])
    month = rows["year"].astype(str) + "-" + rows["month"].astype(str).str.zfill(2)
    cdmx = gpd.GeoDataFrame({"month": month.to_numpy()}, geometry=gpd.points_from_xy(rows["long"], rows["lat"]),
                            crs="EPSG:4326")
    print(f"CDMX SSP points: {len(cdmx):,}")
    for name, path in (("quadrants", "cuadrantes.geojson"), ("colonias", "colonias_iecm.gpkg")):
        areas = gpd.read_file(REALDATA / "cdmx" / path).to_crs("EPSG:4326").reset_index(drop=True)
        joined = timed(f"{name}: point-in-polygon of all points", gpd.sjoin, cdmx, areas[["geometry"]],
                       predicate="within")
        areas["n"] = joined.groupby("index_right").size().reindex(areas.index, fill_value=0)
        sw = timed(f"{name}: queen weights ({len(areas)} areas)", build_weights, areas, "queen")
        timed(f"{name}: Gi* analytic", gi_star, areas, "n", weights=sw)
        timed(f"{name}: Gi* 999 permutations", gi_star, areas, "n", weights=sw, permutations=999, seed=1)
        timed(f"{name}: local Moran 999 permutations", local_moran, areas, "n", weights="queen", seed=1)
        timed(f"{name}: natural breaks, 5 classes", classify, areas["n"], "natural_breaks")
        if "SUMPOB1" in areas:
            timed(f"{name}: EB rates", eb_rates, areas["n"], areas["SUMPOB1"])
        monthly = joined.groupby(["index_right", "month"]).size().rename("count").reset_index()
        timed(f"{name}: emerging hot spots ({monthly['month'].nunique()} months)", emerging_hotspots,
              monthly.rename(columns={"index_right": "area"}), areas, weights=sw)


if __name__ == "__main__":
    main()
