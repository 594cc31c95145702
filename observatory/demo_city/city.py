"""Geography of the synthetic demo city: neighbourhoods, districts, populations, planted effects.

Everything is a pure function of the seed. The city is drawn in a local azimuthal-equidistant
projection (metres) centred on ``CENTRE`` and returned in WGS84 (EPSG:4326): Voronoi cells of
jittered seed points clipped to an irregular outline, grouped into districts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from shapely.geometry import MultiPoint, Polygon

from observatory.text import fold

CITY_NAME = "Ciudad Demo (datos sintéticos)"
# A made-up city in the Colombian-Venezuelan plains; nothing here describes a real place.
CENTRE = (-70.10, 5.40)  # lon, lat
N_NEIGHBOURHOODS = 80
RADIUS_M = 6_000.0
LOCAL_CRS = f"+proj=aeqd +lat_0={CENTRE[1]} +lon_0={CENTRE[0]} +datum=WGS84 +units=m +no_defs"

DISTRICTS = (
    "Distrito Centro", "Distrito Río Claro", "Distrito Las Lomas", "Distrito San Isidro",
    "Distrito El Puerto", "Distrito La Esperanza",
)

_BASE_NAMES = (
    "San José", "Santa Lucía", "El Carmen", "La Esperanza", "Las Acacias", "Los Almendros", "El Porvenir",
    "La Unión", "San Martín", "Santa Rosa", "El Prado", "La Floresta", "Los Pinos", "El Recreo", "Las Palmas",
    "San Isidro", "La Victoria", "El Bosque", "Los Cerezos", "La Campiña", "San Rafael", "Santa Inés",
    "El Triunfo", "La Libertad", "Los Olivos", "El Rosario", "La Pradera", "San Vicente", "Santa Bárbara",
    "El Mirador", "Las Flores", "Los Laureles", "La Colina", "El Jardín", "San Fernando", "Santa Mónica",
    "El Paraíso", "La Candelaria", "Los Andes", "El Refugio", "Las Brisas", "San Antonio", "Santa Teresa",
    "El Dorado", "La Gloria", "Los Cedros", "El Edén", "La Primavera", "San Pedro", "Santa Ana", "El Limonar",
    "La Arboleda", "Los Sauces", "El Retiro", "Las Granjas", "San Cristóbal", "Santa Elena", "El Vergel",
    "La Aurora", "Los Robles", "El Manantial", "La Cañada", "San Luis", "Santa Fe", "El Poblado", "La Estrella",
    "Los Naranjos", "El Tesoro", "La Ceiba", "San Miguel", "Santa Clara", "El Diamante", "La Fortuna",
    "Los Guayacanes", "El Silencio", "La Rivera", "San Judas", "Santa Cecilia", "El Cortijo", "La Paz",
    "Los Alpes", "El Guadual", "La Magdalena", "San Bernardo", "Santa Isabel", "El Nogal", "La Amistad",
    "Los Mangos", "El Llano", "La Quinta",
)
_PREFIXES = ("", "", "", "Barrio", "Villa", "Urbanización", "Ciudadela")

# Relative crime rate multipliers of the planted effects (1 = an ordinary neighbourhood).
HOTSPOT_CORE_FACTOR = 5.0
HOTSPOT_HALO_FACTOR = 2.5
N_CLUSTERS = 2
CLUSTER_SIZE = 3  # neighbourhoods per planted hotspot cluster
INTERVENTION_DROP = 0.45  # share of crime removed in the intervention areas after the start date


@dataclass
class City:
    """The demo city: neighbourhoods (GeoDataFrame in EPSG:4326) and its planted effects.

    ``areas`` columns: ``code``, ``name``, ``district``, ``population`` (inhabitants), ``risk``
    (relative crime rate, 1 = ordinary), ``role`` ("hotspot", "halo", "intervention", "ordinary"),
    ``cluster`` (hotspot cluster number or -1), ``geometry``.
    """

    areas: gpd.GeoDataFrame
    hotspots: list[list[str]]  # codes of each planted cluster
    intervention: list[str]  # codes of the intervention area
    neighbours: dict[str, list[str]] = field(default_factory=dict)  # queen contiguity by code

    @property
    def hotspot_codes(self) -> list[str]:
        return [code for cluster in self.hotspots for code in cluster]


def _outline(rng: np.random.Generator) -> Polygon:
    """An irregular, star-shaped city outline of mean radius ``RADIUS_M`` (local metres)."""
    theta = np.linspace(0, 2 * math.pi, 120, endpoint=False)
    phases = rng.uniform(0, 2 * math.pi, 3)
    radius = RADIUS_M * (1 + 0.16 * np.sin(2 * theta + phases[0]) + 0.09 * np.sin(3 * theta + phases[1])
                         + 0.05 * np.sin(5 * theta + phases[2]))
    return Polygon(np.column_stack([radius * np.cos(theta), radius * np.sin(theta)]))


def _seed_points(rng: np.random.Generator, outline: Polygon, n: int) -> np.ndarray:
    """``n`` jittered grid points inside ``outline``; a random subset so cell sizes vary."""
    spacing = math.sqrt(outline.area / (n * 1.25))
    while True:
        minx, miny, maxx, maxy = outline.bounds
        xs, ys = np.meshgrid(np.arange(minx, maxx, spacing), np.arange(miny, maxy, spacing))
        pts = np.column_stack([xs.ravel(), ys.ravel()]) + rng.uniform(-0.35, 0.35, (xs.size, 2)) * spacing
        inside = shapely.contains_xy(outline.buffer(-spacing * 0.3), pts[:, 0], pts[:, 1])
        pts = pts[inside]
        if len(pts) >= n:
            return pts[np.sort(rng.choice(len(pts), n, replace=False))]
        spacing *= 0.95


def _cells(points: np.ndarray, outline: Polygon) -> list:
    """Voronoi cells of ``points`` clipped to ``outline``, in the order of ``points``."""
    cells = shapely.voronoi_polygons(MultiPoint(points), extend_to=outline.buffer(RADIUS_M), ordered=True)
    return [shapely.make_valid(cell.intersection(outline)) for cell in cells.geoms]


def _districts(points: np.ndarray, rng: np.random.Generator) -> list[str]:
    """A central district and five angular sectors around it."""
    angle = (np.arctan2(points[:, 1], points[:, 0]) + rng.uniform(0, 2 * math.pi)) % (2 * math.pi)
    radius = np.hypot(points[:, 0], points[:, 1])
    sector = np.minimum((angle / (2 * math.pi) * 5).astype(int), 4) + 1
    central = radius < np.quantile(radius, 0.18)
    return [DISTRICTS[0] if c else DISTRICTS[s] for c, s in zip(central, sector, strict=True)]


def _names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct made-up neighbourhood names (distinct also once accents and case are folded)."""
    bases = list(_BASE_NAMES)
    rng.shuffle(bases)
    names: list[str] = []
    for base in bases[:n]:
        prefix = _PREFIXES[rng.integers(len(_PREFIXES))]
        names.append(f"{prefix} {base}".strip())
    assert len({fold(x) for x in names}) == n
    return names


def _queen(areas: gpd.GeoDataFrame) -> dict[str, list[str]]:
    graph = Graph.build_contiguity(areas.set_index("code"), rook=False)
    adj = graph.adjacency
    neighbours: dict[str, list[str]] = {code: [] for code in areas["code"]}
    for (focal, neighbour), weight in adj.items():
        if weight > 0 and focal != neighbour:
            neighbours[focal].append(neighbour)
    return neighbours


def _graph_distances(neighbours: dict[str, list[str]], start: str) -> dict[str, int]:
    """Number of queen steps from ``start`` to every area (breadth-first)."""
    dist = {start: 0}
    frontier = [start]
    while frontier:
        nxt = []
        for code in frontier:
            for other in neighbours[code]:
                if other not in dist:
                    dist[other] = dist[code] + 1
                    nxt.append(other)
        frontier = nxt
    return dist


def _grow_cluster(seed: str, neighbours: dict[str, list[str]], usable: set[str], size: int) -> list[str] | None:
    """Grow a compact cluster from ``seed``: repeatedly add the usable area touching most members."""
    cluster = [seed]
    while len(cluster) < size:
        touching = {n for code in cluster for n in neighbours[code] if n in usable and n not in cluster}
        if not touching:
            return None
        best = max(sorted(touching), key=lambda n: (sum(n in neighbours[c] for c in cluster), len(neighbours[n])))
        cluster.append(best)
    return sorted(cluster)


def _plant(rng: np.random.Generator, areas: gpd.GeoDataFrame,
           neighbours: dict[str, list[str]]) -> tuple[list[list[str]], list[str]]:
    """Choose ``N_CLUSTERS`` hotspot clusters and one intervention area, far apart and off the edge.

    A cluster grows from an interior area with at least five neighbours by adding the neighbour
    touching most members, so that each member's Gi* neighbourhood (queen, self included) is mostly
    hot once the halo (every neighbour of the cluster) is raised too: crime decays with distance
    from a hotspot rather than stopping at a boundary. Two compact clusters keep the hot share of
    the city small enough for every member to pass |z| > 2.58 with a margin (min z about 3.5).
    """
    outline = areas.geometry.union_all().boundary
    on_edge = set(areas.loc[areas.geometry.intersects(outline.buffer(1e-9)), "code"])
    big = set(areas.loc[areas["population"] >= 8_000, "code"])
    candidates = [c for c in areas["code"] if c not in on_edge and len(neighbours[c]) >= 5 and c in big]
    order = rng.permutation(len(candidates))
    clusters: list[list[str]] = []
    taken: dict[str, int] = {}
    for i in order:
        seed = candidates[i]
        dist = _graph_distances(neighbours, seed)
        if any(dist.get(code, 99) < 4 for code in taken):
            continue
        cluster = _grow_cluster(seed, neighbours, usable=big - on_edge, size=CLUSTER_SIZE)
        if cluster is None:
            continue
        clusters.append(cluster)
        taken.update({code: 1 for code in cluster})
        if len(clusters) == N_CLUSTERS:
            break
    assert len(clusters) == N_CLUSTERS, "could not place the hotspot clusters"
    hot = set(taken)
    for i in order:
        seed = candidates[i]
        dist = _graph_distances(neighbours, seed)
        if min(dist.get(code, 99) for code in hot) < 2:
            continue
        partner = [n for n in neighbours[seed] if n in big and min(
            _graph_distances(neighbours, n).get(code, 99) for code in hot) >= 2]
        if partner:
            return clusters, sorted([seed, partner[0]])
    raise AssertionError("could not place the intervention area")


def _dense_centres(population: np.ndarray, role: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give hotspot and halo areas the larger populations (busy, dense centres), others the rest.

    The set of populations is unchanged, only who gets which: hotspot members draw from the top
    12%, halo areas from the top 70% of what is left. Then the hotspots stand out in raw counts
    too, not only in rates, as they do in real cities where crime gathers in dense commercial areas.
    """
    values = np.sort(population)[::-1].copy()
    out = np.empty_like(population)
    pool = list(values)
    for wanted, top in (("hotspot", 0.12), ("halo", 0.7)):
        idx = np.flatnonzero(role == wanted)
        chosen = rng.choice(max(len(idx), int(len(pool) * top)), size=len(idx), replace=False)
        picked = [pool[i] for i in chosen]
        for i in sorted(chosen, reverse=True):
            pool.pop(i)
        out[idx] = picked
    rest = np.flatnonzero(~np.isin(role, ["hotspot", "halo"]))
    out[rest] = rng.permutation(np.array(pool))
    return out


def build_city(seed: int = 2024) -> City:
    """Draw the demo city for ``seed`` (deterministic).

    Returns a :class:`City` whose ``areas`` are in EPSG:4326 and ordered by code.
    """
    rng = np.random.default_rng([seed, 1])
    outline = _outline(rng)
    points = _seed_points(rng, outline, N_NEIGHBOURHOODS)
    cells = _cells(points, outline)
    districts = _districts(points, rng)
    # Codes follow district then north-to-south, as a planning office would number them.
    order = sorted(range(len(points)), key=lambda i: (DISTRICTS.index(districts[i]), -points[i, 1], points[i, 0]))
    names = _names(rng, len(points))
    population = np.exp(rng.normal(math.log(13_000), 0.55, len(points))).clip(2_000, 40_000)
    small = rng.choice(len(points), 6, replace=False)
    population[small] = rng.uniform(2_000, 3_500, len(small))  # a few small ones so smoothing matters
    risk = np.exp(rng.normal(0, 0.22, len(points)))
    # A mild centre-periphery gradient: commerce and transport concentrate theft downtown.
    risk *= 1.25 - 0.35 * np.hypot(points[:, 0], points[:, 1]) / RADIUS_M
    local = gpd.GeoDataFrame({
        "code": [f"CD{rank + 1:03d}" for rank in range(len(order))],
        "name": [names[i] for i in order],
        "district": [districts[i] for i in order],
        "population": np.round(population[order], -1).astype(int),
        "risk": risk[order],
        "role": "ordinary",
        "cluster": -1,
        "x": points[order, 0],
        "y": points[order, 1],
    }, geometry=[cells[i] for i in order], crs=LOCAL_CRS)
    neighbours = _queen(local)
    clusters, intervention = _plant(rng, local, neighbours)
    codes = local["code"]
    halo = {n for cluster in clusters for code in cluster for n in neighbours[code]} - {
        c for cl in clusters for c in cl}
    local.loc[codes.isin(halo), ["role", "risk"]] = ["halo", HOTSPOT_HALO_FACTOR]
    for k, cluster in enumerate(clusters):
        local.loc[codes.isin(cluster), ["role", "risk", "cluster"]] = ["hotspot", HOTSPOT_CORE_FACTOR, k]
    local.loc[codes.isin(intervention), "role"] = "intervention"
    local.loc[codes.isin(intervention), "risk"] = 1.6  # chosen for the programme because crime was high
    local["population"] = _dense_centres(local["population"].to_numpy(), local["role"].to_numpy(), rng)
    areas = local.to_crs(4326)
    return City(areas=areas.reset_index(drop=True), hotspots=clusters, intervention=intervention,
                neighbours=neighbours)


def planted_hotspots(seed: int = 2024) -> list[str]:
    """Codes of the neighbourhoods planted as hotspots for ``seed`` (they must be Gi* "hot 99%")."""
    return build_city(seed).hotspot_codes


def far_from_hotspots(city: City, min_steps: int = 4) -> list[str]:
    """Codes of ordinary areas at least ``min_steps`` queen steps from every planted hotspot."""
    far = []
    dists = [_graph_distances(city.neighbours, code) for code in city.hotspot_codes]
    for code, role in zip(city.areas["code"], city.areas["role"], strict=True):
        if role == "ordinary" and all(d.get(code, 99) >= min_steps for d in dists):
            far.append(code)
    return far


def adult_share() -> float:
    """Share of inhabitants aged 18+ (used for survey weights)."""
    return 0.72


def areas_frame(city: City) -> pd.DataFrame:
    """The areas without geometry (handy for generators)."""
    return pd.DataFrame(city.areas.drop(columns="geometry"))
