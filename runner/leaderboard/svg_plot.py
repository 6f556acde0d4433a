"""A small deterministic SVG scatter plot: a metric against training wall time (log scale).

Written by hand rather than with matplotlib so that the same points always give the same
bytes (no embedded dates, ids or font-dependent layout) and the page needs no image files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Callable

WIDTH, HEIGHT = 600, 320
LEFT, RIGHT, TOP, BOTTOM = 78, 24, 34, 48
TIER_COLORS = {"cpu-ci": "#1f77b4", "cpu": "#2ca02c", "gpu": "#d62728"}
_MIN_SECONDS = 0.01  # log scale: a zero wall time is drawn at 10 ms


@dataclass(frozen=True)
class Point:
    seconds: float
    value: float
    label: str  # drawn beside the point
    tooltip: str  # shown on hover
    tier: str


def scatter_svg(points: list[Point], *, title: str, y_label: str, y_text: Callable[[float], str]) -> str:
    """The plot as one `<svg>` element (no XML prologue, to be inlined in HTML).

    Both axes fit the data with a margin (a single point sits in the middle, not on an edge);
    time ticks are round durations; point labels are moved apart so that none overlap."""
    xs = [math.log10(max(p.seconds, _MIN_SECONDS)) for p in points]
    x_lo, x_hi = _log_range(xs)
    y_lo, y_hi = _padded([p.value for p in points])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: float) -> float:
        return TOP + (y_hi - y) / (y_hi - y_lo) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
           f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>']
    for seconds in _time_ticks(x_lo, x_hi):
        x = sx(math.log10(seconds))
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" font-size="11">'
                   f'{_duration_label(seconds)}</text>')
    for i in range(5):
        y_value = y_lo + (y_hi - y_lo) * i / 4
        y = sy(y_value)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                   f'{escape(y_text(y_value))}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="12">'
               'training wall time (log scale)</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2:.1f}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>')
    centers = [(sx(x), sy(point.value)) for point, x in zip(points, xs)]
    for point, (cx, cy) in zip(points, centers):
        color = TIER_COLORS.get(point.tier, "#555")
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{color}">'
                   f'<title>{escape(point.tooltip)}</title></circle>')
    for box in label_boxes(points, centers, LEFT + plot_w / 2):
        anchor = ' text-anchor="end"' if box.anchor_end else ""
        out.append(f'<text x="{box.anchor_x:.1f}" y="{box.baseline:.1f}" font-size="{LABEL_FONT}"{anchor}>'
                   f'{escape(box.text)}</text>')
    out += _legend(sorted({p.tier for p in points}, key=list(TIER_COLORS).index))
    out.append("</svg>")
    return "\n".join(out)


LABEL_FONT = 10
_CHAR_WIDTH = 0.6 * LABEL_FONT  # an upper bound for the page's sans-serif digits and lower case
_LINE = LABEL_FONT + 3


@dataclass(frozen=True)
class LabelBox:
    text: str
    anchor_x: float
    baseline: float
    anchor_end: bool  # the text extends leftwards from anchor_x

    @property
    def left(self) -> float:
        return self.anchor_x - self.width if self.anchor_end else self.anchor_x

    @property
    def width(self) -> float:
        return len(self.text) * _CHAR_WIDTH

    @property
    def top(self) -> float:
        return self.baseline - LABEL_FONT

    def overlaps(self, other: "LabelBox") -> bool:
        return (self.left < other.left + other.width and other.left < self.left + self.width
                and self.top < other.top + _LINE and other.top < self.top + _LINE)


def label_boxes(points: list[Point], centers: list[tuple[float, float]], middle: float) -> list[LabelBox]:
    """Where each point's label goes: beside its point (leftwards on the right half, so it stays
    inside the plot), moved down a line at a time until it overlaps no label placed before it."""
    placed: list[LabelBox] = []
    for i in sorted(range(len(points)), key=lambda i: (centers[i][1], centers[i][0])):
        (cx, cy), end = centers[i], centers[i][0] > middle
        box = LabelBox(points[i].label, cx - 8 if end else cx + 8, cy - 6, end)
        while any(box.overlaps(other) for other in placed):
            box = LabelBox(box.text, box.anchor_x, box.baseline + _LINE, end)
        placed.append(box)
    return placed


def _legend(tiers: list[str]) -> list[str]:
    """Tier colours in the title row, right-aligned: outside the plot area, never over a point."""
    out = []
    for i, tier in enumerate(reversed(tiers)):
        x = WIDTH - RIGHT - 60 * (i + 1)
        out.append(f'<circle cx="{x}" cy="14" r="4" fill="{TIER_COLORS[tier]}"/>')
        out.append(f'<text x="{x + 8}" y="18" font-size="11">{escape(tier)}</text>')
    return out


def _log_range(xs: list[float]) -> tuple[float, float]:
    """log10 seconds spanning the data with a quarter-decade margin, at least one decade wide."""
    lo, hi = min(xs) - 0.25, max(xs) + 0.25
    if hi - lo < 1.0:
        middle = (lo + hi) / 2
        lo, hi = middle - 0.5, middle + 0.5
    return lo, hi


# Round durations for the time axis: seconds, minutes, hours, days.
_NICE_SECONDS = [m * unit for unit in (1, 60, 3600) for m in (1, 2, 5, 10, 20, 30)] + [86400, 2 * 86400, 5 * 86400]


def _time_ticks(lo: float, hi: float) -> list[float]:
    """Round durations inside [10**lo, 10**hi]; every other one when there are more than six."""
    ticks = [t for t in ([0.01, 0.1] + _NICE_SECONDS) if lo <= math.log10(t) <= hi]
    while len(ticks) > 6:
        ticks = ticks[::2]
    return ticks


def _duration_label(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    if seconds < 86400:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 86400:g} d"


def _padded(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 if hi > lo else (abs(lo) * 0.1 or 1.0)
    return lo - pad, hi + pad
