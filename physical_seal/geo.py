"""How far a stamp was from where it was allowed: the one distance the machine and the service both measure, so
that they agree on the fence to the metre (docs/protocol.md §4.7)."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)


def distance_m(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Great-circle (haversine) distance in metres between two positions in units of 10⁻⁷ degree."""
    lat1, lon1, lat2, lon2 = (math.radians(v / 1e7) for v in (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))
