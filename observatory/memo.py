"""A memo of values derived from shared objects, keyed by the object itself (its identity).

For objects that are shared and never modified in place: the incident cube's categories frame, the
dashboard's areas frame, its spatial weights. A value derived from one of them (a release, a
fingerprint, prepared arrays) is kept per object and an optional hashable key. The object is kept
with its value, so its ``id`` cannot be reused by another object while the entry lives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class ObjectMemo:
    """Bounded, thread-safe; the least recently used entries beyond ``maxsize`` are dropped.

    Two threads asking at once for a missing entry may both build it (the value is the same):
    these values cost milliseconds, unlike ``geo.memo.LayerMemo``'s.
    """

    def __init__(self, maxsize: int = 16) -> None:
        self.maxsize = maxsize
        self._values: OrderedDict[tuple[int, Hashable], tuple[object, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, owner: object, build: Callable[[], T], key: Hashable = None) -> T:
        """The value for (``owner``, ``key``), built with ``build()`` on first use."""
        slot = (id(owner), key)
        with self._lock:
            hit = self._values.get(slot)
            if hit is not None and hit[0] is owner:  # the very object: its id cannot have been reused
                self._values.move_to_end(slot)
                return hit[1]  # type: ignore[return-value]
        value = build()
        with self._lock:
            self._values[slot] = (owner, value)
            while len(self._values) > self.maxsize:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every stored value."""
        with self._lock:
            self._values.clear()
