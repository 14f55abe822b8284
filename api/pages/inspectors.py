"""Inspectors: overdue steps, alarms, stamps outside office hours, quick approvals, and requests counted as charts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from api.deps import RuntimeDep
from api.pages.base import Inspectors, render
from api.pages.custodians import ALARMS
from workflow import charts, supervision

router = APIRouter(include_in_schema=False)
LISTED = 100  # stamps or approvals listed on the page; the tiles count them all


def _chart(chart_id: str, title: str, category_label: str, value_label: str, bars: list[tuple[str, int]]) -> Markup:
    """A chart for the template, which passes the translated words; the SVG escapes every label itself."""
    return Markup(charts.bar_chart(chart_id, title, category_label, value_label, bars))  # noqa: S704 (escaped there)


@router.get("/supervision")
def dashboard(request: Request, who: Inspectors, rt: RuntimeDep) -> Response:
    with rt.readers() as session:
        board = supervision.dashboard(session, who.principal, rt.clock.now())
    return render(
        request,
        who,
        "inspectors/supervision.html",
        board=board,
        alarm_names=ALARMS,
        chart=_chart,
        quick_seconds=supervision.QUICK_APPROVAL_SECONDS,
        recent_days=supervision.RECENT.days,
        listed=LISTED,
    )
