"""Horizontal bar charts as inline SVG, drawn on the server.

A bar chart is a few rectangles and texts, so no charting library is needed, nor any script in the browser.
Every label is escaped. The chart names itself (``<title>``, ``role="img"``) and each bar carries a ``<title>``
with its label and value, for screen readers; pages also show the same numbers as a table.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from html import escape

WIDTH = 360  # px of the viewBox: a phone's width; the SVG scales down, never up past it
ROW = 26
BAR = 18
LABEL_WIDTH = 122
VALUE_ROOM = 40
TOP = 24  # the category axis' name
BOTTOM = 40  # the value axis, its ticks and its name
FONT = 12
BAR_COLOUR = "#c8161d"
INK = "#222"
MUTED = "#666"


def _width(text: str) -> float:
    """Roughly how wide ``text`` is, in ems: a Chinese character is one, a Latin letter or digit about half."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.55 for c in text)


def _fitted(text: str, ems: float) -> str:
    if _width(text) <= ems:
        return text
    out = ""
    for c in text:
        if _width(out + c) > ems - 1:
            break
        out += c
    return out + "…"


def bar_chart(chart_id: str, title: str, category_label: str, value_label: str, bars: Sequence[tuple[str, int]]) -> str:
    """An SVG of one bar per (label, value), in the order given; ``chart_id`` is unique on the page."""
    plot = WIDTH - LABEL_WIDTH - VALUE_ROOM
    top = max((value for _, value in bars), default=0) or 1
    axis_y = TOP + len(bars) * ROW
    height = axis_y + BOTTOM
    ident = escape(chart_id, quote=True)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'role="img" aria-labelledby="{ident}-title" font-size="{FONT}" font-family="inherit">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<text x="{LABEL_WIDTH - 6}" y="{TOP - 8}" text-anchor="end" fill="{MUTED}">{escape(category_label)}</text>',
    ]
    for index, (label, value) in enumerate(bars):
        y = TOP + index * ROW
        length = round(plot * value / top, 1)
        middle = y + ROW / 2 + FONT / 3
        shown = _fitted(label, (LABEL_WIDTH - 8) / FONT)
        parts += [
            f"<g><title>{escape(label)}: {value}</title>",
            f'<text x="{LABEL_WIDTH - 6}" y="{middle}" text-anchor="end" fill="{INK}">{escape(shown)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y + (ROW - BAR) / 2}" width="{length}" height="{BAR}" fill="{BAR_COLOUR}"/>',
            f'<text x="{LABEL_WIDTH + length + 4}" y="{middle}" fill="{INK}">{value}</text></g>',
        ]
    parts += [
        f'<line x1="{LABEL_WIDTH}" y1="{TOP}" x2="{LABEL_WIDTH}" y2="{axis_y}" stroke="{MUTED}"/>',
        f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + plot}" y2="{axis_y}" stroke="{MUTED}"/>',
        f'<text x="{LABEL_WIDTH}" y="{axis_y + 14}" text-anchor="middle" fill="{MUTED}">0</text>',
        f'<text x="{LABEL_WIDTH + plot}" y="{axis_y + 14}" text-anchor="middle" fill="{MUTED}">{top}</text>',
        f'<text x="{LABEL_WIDTH + plot / 2}" y="{axis_y + 32}" text-anchor="middle" fill="{MUTED}">'
        f"{escape(value_label)}</text>",
        "</svg>",
    ]
    return "\n".join(parts)
