"""Per-process memo of objects derived from a boundary layer's geometry (spatial weights, display GeoJSON).

Why keyed by geometry and not by the data version: the dashboard's data version changes with every
incident import, but the neighbourhoods rarely change. Keying the weights and the GeoJSON by a
fingerprint of the layer itself (:func:`layer_fingerprint`) means an incident import never rebuilds
them, and a URL carrying the fingerprint stays cacheable by the browser until the boundaries change.

Pure: no file or database I/O; the memo lives in the process's memory only.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import geopandas as gpd
import numpy as np
import shapely

from observatory.memo import ObjectMemo

T = TypeVar("T")


def layer_fingerprint(gdf: gpd.GeoDataFrame, id_column: str | None = None) -> str:
    """A SHA-1 hex digest identifying a layer's rows and shapes.

    Input: a GeoDataFrame; ``id_column`` optionally names a column of area ids to include.
    Output: 40 hex characters that change when the CRS, the row order, the index labels, the ids
    or any vertex of any geometry changes (geometries are compared by their WKB bytes, so an
    identical layer re-read from the database gives the same digest). Costs about 2 ms for
    Mexico City's 847 quadrants (33,000 vertices).
    """
    digest = hashlib.sha1()
    digest.update(repr(gdf.crs.to_string() if gdf.crs is not None else None).encode())
    digest.update(repr(list(gdf.index)).encode())
    if id_column is not None:
        digest.update(repr(list(gdf[id_column])).encode())
    wkbs = shapely.to_wkb(np.asarray(gdf.geometry.values, dtype=object))
    # Lengths first (-1 for a missing geometry), so concatenated bytes cannot be split two ways.
    lengths = np.array([-1 if b is None else len(b) for b in wkbs], dtype=np.int64)
    digest.update(lengths.tobytes())
    digest.update(b"".join(b for b in wkbs if b is not None))
    return digest.hexdigest()


class LayerMemo:
    """Thread-safe, bounded memo that builds each key once, even when several threads ask at once.

    ``get(key, build)`` returns the stored value for ``key`` or calls ``build()`` (outside the memo's
    own lock, so other keys are served meanwhile); a second thread asking for a key being built waits
    for that build instead of repeating it (the dashboard's first page load asks for the same weights
    from concurrent callbacks). A failed build stores nothing. Least recently used entries beyond
    ``maxsize`` are dropped.
    """

    def __init__(self, maxsize: int = 16) -> None:
        self.maxsize = maxsize
        self._values: OrderedDict[Hashable, object] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.builds = 0  # number of build() calls that completed (for tests and benchmarks)
        self._fingerprints = ObjectMemo(maxsize)  # per frame object and id column

    def fingerprint(self, gdf: gpd.GeoDataFrame, id_column: str | None = None) -> str:
        """:func:`layer_fingerprint` of ``gdf``, computed once per frame object.

        For frames that are shared and never modified in place (the dashboard's memoised areas):
        asking again for the same object costs a dict lookup instead of hashing every vertex. The
        last ``maxsize`` frames are remembered.
        """
        return self._fingerprints.get(gdf, lambda: layer_fingerprint(gdf, id_column), id_column)

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value for ``key``, built with ``build()`` on first use."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]  # type: ignore[return-value]
            key_lock = self._building.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:  # built by the thread we waited for
                    self._values.move_to_end(key)
                    return self._values[key]  # type: ignore[return-value]
            try:
                value = build()
                with self._lock:
                    self._values[key] = value
                    self.builds += 1
                    while len(self._values) > self.maxsize:
                        self._values.popitem(last=False)
            finally:
                with self._lock:
                    self._building.pop(key, None)
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def clear(self) -> None:
        """Forget every stored value."""
        with self._lock:
            self._values.clear()
        self._fingerprints.clear()


# The dashboard's memo (observatory.web.data): weights and GeoJSON of the primary layer.
layer_memo = LayerMemo()
