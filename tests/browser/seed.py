"""A synthetic database written straight into the tables, for the dashboard tests and bench.

Not the demo city (``observatory.demo`` goes through the importers): this is a fast, seedable
grid city of ``nx * ny`` square areas with a hotspot in one corner, incidents over
``months`` months and one or two survey waves, written with SQLAlchemy Core bulk inserts.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import shapely
from sqlalchemy import Engine, insert, select

from observatory.db.models import (
    BoundaryLayer,
    CrimeCategory,
    ImportBatch,
    Incident,
    Neighbourhood,
    SurveyResponse,
    SurveyWave,
)

CATEGORY_MIX = {"robbery_person": 0.3, "theft": 0.3, "burglary_residential": 0.15, "vehicle_theft": 0.1,
                "assault": 0.1, "homicide": 0.02, "domestic_violence": 0.03}
AGES = ("0-17", "18-29", "30-44", "45-59", "60+")


def _batch(conn, name: str, kind: str, n: int) -> int:
    now = dt.datetime(2024, 1, 1, 12)
    return conn.execute(insert(ImportBatch).values(
        file_name=name, sha256=hashlib.sha256(name.encode()).hexdigest(), source_kind=kind, profile="seed",
        started_at=now, finished_at=now, status="done", total=n, loaded=n)).inserted_primary_key[0]


def build(engine: Engine, *, nx: int = 6, ny: int = 5, incidents: int = 6000, months: int = 36,
          end: dt.date = dt.date(2024, 6, 30), seed: int = 7, survey: bool = True, origin=(-70.70, -33.50),
          cell: float = 0.01, chunk: int = 50_000) -> dict:
    """Fill a migrated, empty database; returns a summary (areas, incidents, hotspot codes)."""
    rng = np.random.default_rng(seed)
    n_areas = nx * ny
    with engine.begin() as conn:
        cats = {code: (cid, sens) for cid, code, sens in conn.execute(
            select(CrimeCategory.id, CrimeCategory.code, CrimeCategory.sensitive))}
        layer_batch = _batch(conn, "seed_areas.geojson", "boundaries", n_areas)
        layer_id = conn.execute(insert(BoundaryLayer).values(
            name="seed", level="neighbourhood", is_primary=True, batch_id=layer_batch)).inserted_primary_key[0]
        rows, boxes = [], []
        for j in range(ny):
            for i in range(nx):
                x0, y0 = origin[0] + i * cell, origin[1] + j * cell
                poly = shapely.box(x0, y0, x0 + cell, y0 + cell)
                boxes.append((x0, y0))
                code = f"A{j:03d}{i:03d}"
                rows.append({"layer_id": layer_id, "code": code, "name": f"Barrio {j * nx + i + 1}",
                             "name_key": f"barrio {j * nx + i + 1}", "district": f"D{1 + (i * 3) // nx}",
                             "population": float(rng.integers(3000, 30000)), "area_km2": 1.2,
                             "centroid_lon": x0 + cell / 2, "centroid_lat": y0 + cell / 2,
                             "geometry_wkb": shapely.to_wkb(poly), "active": True})
        conn.execute(insert(Neighbourhood), rows)
        ids = [r[0] for r in conn.execute(select(Neighbourhood.id).where(Neighbourhood.layer_id == layer_id)
                                          .order_by(Neighbourhood.code))]
        # Hotspot: the 2x2 corner block gets 8x the weight.
        weight = np.ones(n_areas)
        hot = [0, 1, nx, nx + 1]
        weight[hot] = 8.0
        weight /= weight.sum()
        codes = [r["code"] for r in rows]
        mix_codes = [c for c in CATEGORY_MIX if c in cats]
        mix_p = np.array([CATEGORY_MIX[c] for c in mix_codes])
        mix_p /= mix_p.sum()
        batch_id = _batch(conn, "seed_incidents.csv", "police", incidents)
        start = (end.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
        span = (end - start).days + 1
        done = 0
        while done < incidents:
            m = min(chunk, incidents - done)
            area = rng.choice(n_areas, size=m, p=weight)
            days = rng.integers(0, span, size=m)
            cat = rng.choice(len(mix_codes), size=m, p=mix_p)
            hours = rng.choice(24, size=m, p=_hour_profile())
            sx = rng.choice(["F", "M", "X"], size=m, p=[0.45, 0.5, 0.05])
            ages = rng.choice(len(AGES), size=m)
            fx, fy = rng.random(m), rng.random(m)
            src = rng.random(m) < 0.5
            batch = []
            for k in range(m):
                day = start + dt.timedelta(days=int(days[k]))
                code = mix_codes[cat[k]]
                cid, sens = cats[code]
                x0, y0 = boxes[area[k]]
                has_point = (k % 20) != 0
                batch.append({
                    "source_kind": "complaint" if src[k] else "police", "record_key": f"s{done + k}",
                    "source_id": f"s{done + k}", "content_hash": f"{done + k:040d}", "revision": 1,
                    "batch_id": batch_id, "profile": "seed", "occurred_on": day,
                    "occurred_month": day.replace(day=1), "occurred_time": dt.time(int(hours[k]), 0),
                    "hour": int(hours[k]), "weekday": day.weekday(), "category_id": cid, "original_label": code,
                    "count": 1, "sensitive": bool(sens),
                    "lon": x0 + fx[k] * cell if has_point else None, "lat": y0 + fy[k] * cell if has_point else None,
                    "declared_area_code": codes[area[k]], "neighbourhood_id": ids[area[k]],
                    "assignment": "point" if has_point else "code", "victim_sex": str(sx[k]),
                    "victim_age_group": AGES[ages[k]], "address": f"Calle {k} #{done + k}",
                    "description": "=HYPERLINK(\"http://x\")" if k == 0 else None,
                })
            conn.execute(insert(Incident), batch)
            done += m
        if survey:
            _survey(conn, rng, codes, ids, [r["district"] for r in rows], hot)
    return {"areas": n_areas, "incidents": incidents, "hotspots": [codes[h] for h in hot], "start": start,
            "end": end, "codes": codes}


def _hour_profile() -> np.ndarray:
    p = np.array([3, 2, 2, 1, 1, 1, 2, 3, 4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 7, 8, 8, 7, 5, 4], dtype=float)
    return p / p.sum()


def _survey(conn, rng, codes, ids, districts, hot) -> None:
    for w, (name, start) in enumerate((("Encuesta 2023", dt.date(2023, 3, 1)), ("Encuesta 2024", dt.date(2024, 3, 1)))):
        batch_id = _batch(conn, f"seed_survey_{w}.csv", "survey", 600)
        wave_id = conn.execute(insert(SurveyWave).values(name=name, profile="generic_survey", period_start=start,
                                                         period_end=start + dt.timedelta(days=60),
                                                         reference_months=12)).inserted_primary_key[0]
        rows = []
        for r in range(600):
            a = int(rng.integers(0, len(codes)))
            fearful = 0.3 + (0.3 if a in hot else 0.0) + 0.1 * w
            items = {
                "victim_any": int(rng.random() < 0.25), "reported": int(rng.random() < 0.3),
                "crime_trend_past": int(rng.choice([1, 2, 3], p=[fearful, 0.5 - fearful / 2, 0.5 - fearful / 2])),
                "crime_violence_trend": int(rng.choice([1, 2, 3])), "crime_trend_future": int(rng.choice([1, 2, 3])),
                "unsafe_city": int(rng.random() < 0.6), "unsafe_neighbourhood": int(rng.random() < 0.4),
                "trust_police": int(rng.integers(1, 5)), "trust_municipality": int(rng.integers(1, 5)),
            }
            for item in ("fear_leaving_home", "fear_coming_home_dusk", "fear_walking_alone", "fear_home_night"):
                items[item] = int(rng.choice([1, 2, 3, 4], p=[0.5 - fearful / 2, 0.5 - fearful / 2, fearful / 2,
                                                               fearful / 2]))
            rows.append({"wave_id": wave_id, "batch_id": batch_id, "unit": "person", "respondent_key": f"r{r}",
                         "household_key": f"h{r}", "weight": float(rng.uniform(50, 150)), "area_code": codes[a],
                         "neighbourhood_id": ids[a], "district": districts[a],
                         "sex": str(rng.choice(["F", "M"])), "age_group": str(rng.choice(AGES[1:])), "items": items})
        conn.execute(insert(SurveyResponse), rows)
