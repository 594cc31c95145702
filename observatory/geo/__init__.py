"""Spatial statistics for the observatory: pure functions on (Geo)DataFrames, no I/O.

One module per concept, following PySAL (libpysal, esda, mapclassify):

- :mod:`observatory.geo.projection`: pick a metric CRS (local UTM zone) automatically.
- :mod:`observatory.geo.weights`: queen, rook, k-nearest and distance-band weights, islands attached.
- :mod:`observatory.geo.hotspots`: Getis-Ord Gi* hot and cold spots with Esri's confidence bins.
- :mod:`observatory.geo.moran`: local Moran's I clusters and outliers.
- :mod:`observatory.geo.rates`: rates per 100,000 and empirical Bayes smoothed rates.
- :mod:`observatory.geo.density`: binned kernel density surfaces in metres, as image or contour layers.
- :mod:`observatory.geo.grid`: Gi* on regular square or hexagonal grids of point counts.
- :mod:`observatory.geo.emerging`: emerging hot spots (Mann-Kendall trend plus Gi* history).
- :mod:`observatory.geo.classify`: choropleth classes and legend labels.
"""

from observatory.geo.classify import Classification, classify
from observatory.geo.density import DensityResult, density_cells, density_contours, density_raster, kernel_density
from observatory.geo.emerging import emerging_hotspots, mann_kendall
from observatory.geo.grid import grid_counts, grid_hotspots, make_grid
from observatory.geo.hotspots import HOTSPOT_CLASSES, gi_star
from observatory.geo.moran import MORAN_CLUSTERS, local_moran
from observatory.geo.projection import metric_crs, to_metric
from observatory.geo.rates import eb_rates, rate_per_100k, rate_table, spatial_eb_rates
from observatory.geo.weights import SpatialWeights, build_weights

__all__ = [
    "HOTSPOT_CLASSES",
    "MORAN_CLUSTERS",
    "Classification",
    "DensityResult",
    "SpatialWeights",
    "build_weights",
    "classify",
    "density_cells",
    "density_contours",
    "density_raster",
    "eb_rates",
    "emerging_hotspots",
    "gi_star",
    "grid_counts",
    "grid_hotspots",
    "kernel_density",
    "local_moran",
    "make_grid",
    "mann_kendall",
    "metric_crs",
    "rate_per_100k",
    "rate_table",
    "spatial_eb_rates",
    "to_metric",
]
