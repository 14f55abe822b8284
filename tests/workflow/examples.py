"""Requests the tests submit, as a resident of 水南村 in the demo data would fill them in."""

from __future__ import annotations

from typing import Any

WINTER_VEGETABLE_SUBSIDY: dict[str, Any] = {
    "matter": "agri.winter-vegetable-subsidy",
    "organisation": "yazhou.shuinan",
    "seal": "village_official",
    "seal_form": "electronic",
    "purpose": "申请2026年冬季瓜菜种植补贴",
    "form": {"phone": "13876543210", "crop": "辣椒", "cycles": 2, "area": 3.5, "location": "水南村东洋"},
}
