"""Render a routing problem and its solution as one standalone SVG document.

Plain string building with the standard library only: the web UI must work offline and the
CLI should not pull in a plotting stack. Every text goes through XML escaping because client
and depot ids can be arbitrary strings from orders.

The picture is a map at one scale on both axes, with ticks and axis titles in the
coordinates' unit (``unit``: "km" for a dispatch plan; a benchmark instance has none), and
its legend *below* the map, inside the picture's width: a legend at the side was cut off
when a page scaled or scrolled the picture to a phone's width, and long names ran past the
picture's edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from supplyledger.logistics.routing_model import RoutingProblem, RoutingSolution

__all__ = ["PALETTE", "render_svg"]

# Colour-blind-safe qualitative palette (Okabe-Ito, then Tol's muted), cycled for many routes.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
)

_MAP = 520.0  # the map's longer side, px
_LEFT, _RIGHT, _TOP, _BOTTOM = 64.0, 16.0, 14.0, 46.0  # room for ticks and axis titles
_WIDTH = _LEFT + _MAP + _RIGHT
_LINE_H = 18.0
_FLAT = 0.3  # the map's shorter side is at least this share of the longer one
_CHARS = 70  # a legend line's most characters at 13 px in the picture's width
At = Callable[[float, float], tuple[str, str]]  # coordinates to the picture's x, y


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def _step(span: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about five ticks."""
    raw = span / 5
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _fit(lo: float, hi: float, other: float) -> tuple[float, float]:
    """``lo..hi`` padded by 5 % of the larger span, and widened about its middle to at
    least ``_FLAT`` of it: a row of drops along one road is not drawn as a sliver."""
    span = max(hi - lo, other) or 1.0  # one point alone: a unit square about it
    lo, hi = lo - 0.05 * span, hi + 0.05 * span
    least = _FLAT * span * 1.1
    if hi - lo < least:
        mid = (lo + hi) / 2
        lo, hi = mid - least / 2, mid + least / 2
    return lo, hi


def _cut(text: str) -> str:
    return text if len(text) <= _CHARS else text[:_CHARS - 1] + "…"


def render_svg(problem: RoutingProblem, solution: RoutingSolution | None = None, *,
               unit: str = "", x_label: str = "", y_label: str = "") -> str:
    """Depots as squares, clients as dots, one coloured polyline per route, axes in
    ``unit`` (titled ``x_label`` and ``y_label``) and a legend underneath."""
    points = [(d.x, d.y) for d in problem.depots] + [(c.x, c.y) for c in problem.clients]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    raw_x, raw_y = max(xs) - min(xs), max(ys) - min(ys)
    x0, x1 = _fit(min(xs), max(xs), raw_y)
    y0, y1 = _fit(min(ys), max(ys), raw_x)
    k = _MAP / max(x1 - x0, y1 - y0)
    w, h = (x1 - x0) * k, (y1 - y0) * k
    left = _LEFT + (_MAP - w) / 2  # a tall map sits in the middle

    def at(x: float, y: float) -> tuple[str, str]:
        # SVG's y axis points down; flip it so the map reads like the coordinates.
        return _fmt(left + (x - x0) * k), _fmt(_TOP + h - (y - y0) * k)

    routes = solution.routes if solution else ()
    legend = _legend_lines(problem, solution, unit)
    legend_top = _TOP + h + _BOTTOM + 6
    height = legend_top + _LINE_H * (len(legend) + len(routes)) + 6
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(_WIDTH)}" '
        f'height="{_fmt(height)}" viewBox="0 0 {_fmt(_WIDTH)} {_fmt(height)}" '
        'font-family="sans-serif" font-size="13">',
        f"<title>{escape(problem.name)}</title>",
        f'<rect width="{_fmt(_WIDTH)}" height="{_fmt(height)}" fill="white"/>',
        _axes(x0, x1, y0, y1, at, left, w, h, unit, x_label, y_label),
    ]
    by_id = {c.id: c for c in problem.clients}
    for i, route in enumerate(routes):
        depot = problem.depots[problem.vehicle_types[route.vehicle_type].depot]
        stops = [(depot.x, depot.y)] + [(by_id[c].x, by_id[c].y) for c in route.clients]
        stops.append((depot.x, depot.y))
        path = " ".join(",".join(at(x, y)) for x, y in stops)
        out.append(f'<polyline class="route" points="{path}" fill="none" '
                   f'stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="1.5"/>')
    unserved = set(solution.unserved) if solution else set()
    for c in problem.clients:
        cx, cy = at(c.x, c.y)
        fill = "white" if c.id in unserved else "#333333"
        out.append(f'<circle class="client" cx="{cx}" cy="{cy}" r="3" fill="{fill}" '
                   f'stroke="#333333"><title>{escape(str(c.id))}</title></circle>')
    for d in problem.depots:
        cx, cy = at(d.x, d.y)
        out.append(f'<rect class="depot" x="{_fmt(float(cx) - 5)}" y="{_fmt(float(cy) - 5)}" '
                   f'width="10" height="10" fill="#D55E00" stroke="black">'
                   f"<title>{escape(str(d.id))}</title></rect>")
    out.append(_legend(problem, solution, legend, legend_top, unit))
    out.append("</svg>")
    return "\n".join(out)


def _axes(x0: float, x1: float, y0: float, y1: float, at: At, left: float, w: float,
          h: float, unit: str, x_label: str, y_label: str) -> str:
    """A frame, a light grid at round steps, tick values and the axis titles."""
    step = _step(max(x1 - x0, y1 - y0))
    parts = ['<g class="axes" fill="#444444">',
             f'<rect x="{_fmt(left)}" y="{_fmt(_TOP)}" width="{_fmt(w)}" height="{_fmt(h)}" '
             'fill="none" stroke="#999999"/>']
    for v in _ticks(x0, x1, step):
        x, _ = at(v, y0)
        parts.append(f'<line x1="{x}" y1="{_fmt(_TOP)}" x2="{x}" y2="{_fmt(_TOP + h)}" '
                     'stroke="#e5e7eb"/>')
        parts.append(f'<text class="tick" x="{x}" y="{_fmt(_TOP + h + 16)}" '
                     f'text-anchor="middle">{_num(v, step)}</text>')
    for v in _ticks(y0, y1, step):
        _, y = at(x0, v)
        parts.append(f'<line x1="{_fmt(left)}" y1="{y}" x2="{_fmt(left + w)}" y2="{y}" '
                     'stroke="#e5e7eb"/>')
        parts.append(f'<text class="tick" x="{_fmt(left - 6)}" y="{_fmt(float(y) + 4)}" '
                     f'text-anchor="end">{_num(v, step)}</text>')
    suffix = f" ({unit})" if unit else ""
    parts.append(f'<text class="axis-title" x="{_fmt(left + w / 2)}" '
                 f'y="{_fmt(_TOP + h + 36)}" text-anchor="middle">'
                 f"{escape(x_label or 'x' + suffix)}</text>")
    cy = _TOP + h / 2
    parts.append(f'<text class="axis-title" x="14" y="{_fmt(cy)}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {_fmt(cy)})">{escape(y_label or "y" + suffix)}'
                 "</text>")
    parts.append("</g>")
    return "\n".join(parts)


def _ticks(lo: float, hi: float, step: float) -> list[float]:
    first = math.ceil(lo / step)
    return [i * step for i in range(first, math.floor(hi / step) + 1)]


def _num(v: float, step: float) -> str:
    """A tick's value with the step's decimals ("0", not "-0", at the origin)."""
    digits = max(0, -math.floor(math.log10(step)))
    return f"{0.0 if abs(v) < step / 2 else v:.{digits}f}"


def _distance(d: float, unit: str) -> str:
    return f"{d:.1f} {unit}" if unit else f"{d:.2f}"


def _legend_lines(problem: RoutingProblem, solution: RoutingSolution | None,
                  unit: str) -> list[str]:
    """The legend's text lines above its route entries."""
    lines = [f"{len(problem.clients)} clients"]
    if solution is not None:
        verdict = "feasible" if solution.feasible else "INFEASIBLE"
        lines = [f"{len(problem.clients)} clients · distance "
                 f"{_distance(solution.distance, unit)} · vehicles {solution.vehicles} "
                 f"({verdict})"]
        if solution.unserved:
            lines.append(f"unserved {len(solution.unserved)} (hollow dots)")
    return [problem.name, *lines]


def _legend(problem: RoutingProblem, solution: RoutingSolution | None, lines: list[str],
            top: float, unit: str) -> str:
    parts = ['<g class="legend">']
    for j, text in enumerate(lines):
        bold = ' font-weight="bold"' if j == 0 else ""
        parts.append(f'<text x="{_fmt(_LEFT)}" y="{_fmt(top + 12 + j * _LINE_H)}"{bold}>'
                     f"{escape(_cut(text))}</text>")
    first = top + len(lines) * _LINE_H
    for i, route in enumerate(solution.routes if solution else ()):
        y = first + 12 + i * _LINE_H
        colour = quoteattr(PALETTE[i % len(PALETTE)])
        name = problem.vehicle_types[route.vehicle_type].name
        label = f"route {i + 1}" + (f" ({name})" if name else "")
        parts.append(f'<rect x="{_fmt(_LEFT)}" y="{_fmt(y - 10)}" width="12" height="10" '
                     f"fill={colour}/>")
        parts.append(f'<text x="{_fmt(_LEFT + 18)}" y="{_fmt(y)}">'
                     f"{escape(_cut(f'{label}: {len(route.visits)} stops, '))}"
                     f"{escape(_distance(route.distance, unit))}</text>")
    parts.append("</g>")
    return "\n".join(parts)
