"""Render a routing problem and its solution as one standalone SVG document.

Plain string building with the standard library only: the web UI must work offline and the
CLI should not pull in a plotting stack. Every text goes through XML escaping because client
and depot ids can be arbitrary strings from orders.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from supplyledger.logistics.routing_model import RoutingProblem, RoutingSolution

__all__ = ["PALETTE", "render_svg"]

# Colour-blind-safe qualitative palette (Okabe-Ito, then Tol's muted), cycled for many routes.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
    "#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
)

_PLOT = 600.0  # drawing area, px
_PAD = 20.0
_LEGEND_W = 220.0
_LINE_H = 16.0


def _fmt(v: float) -> str:
    return f"{v:.2f}"


def render_svg(problem: RoutingProblem, solution: RoutingSolution | None = None) -> str:
    """Depots as squares, clients as dots, one coloured polyline per route, and a legend."""
    points = [(d.x, d.y) for d in problem.depots] + [(c.x, c.y) for c in problem.clients]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0 = min(xs), min(ys)
    span = max(max(xs) - x0, max(ys) - y0) or 1.0
    k = (_PLOT - 2 * _PAD) / span

    def at(x: float, y: float) -> tuple[str, str]:
        # SVG's y axis points down; flip it so the map reads like the coordinates.
        return _fmt(_PAD + (x - x0) * k), _fmt(_PLOT - _PAD - (y - y0) * k)

    routes = solution.routes if solution else ()
    height = max(_PLOT, _PAD * 2 + _LINE_H * (4 + len(routes)))
    width = _PLOT + _LEGEND_W
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_fmt(width)}" '
        f'height="{_fmt(height)}" viewBox="0 0 {_fmt(width)} {_fmt(height)}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(problem.name)}</title>",
        f'<rect width="{_fmt(width)}" height="{_fmt(height)}" fill="white"/>',
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
    out.append(_legend(problem, solution))
    out.append("</svg>")
    return "\n".join(out)


def _legend(problem: RoutingProblem, solution: RoutingSolution | None) -> str:
    lx = _PLOT + 10
    lines = [f"<tspan font-weight=\"bold\">{escape(problem.name)}</tspan>",
             f"{len(problem.clients)} clients"]
    if solution is not None:
        verdict = "feasible" if solution.feasible else "INFEASIBLE"
        lines += [f"distance {solution.distance:.2f}",
                  f"vehicles {solution.vehicles} ({verdict})"]
        if solution.unserved:
            lines.append(f"unserved {len(solution.unserved)}")
    parts = ['<g class="legend">']
    for j, text in enumerate(lines):
        parts.append(f'<text x="{_fmt(lx)}" y="{_fmt(_PAD + j * _LINE_H)}">{text}</text>')
    top = _PAD + (len(lines) + 0.5) * _LINE_H
    for i, route in enumerate(solution.routes if solution else ()):
        y = top + i * _LINE_H
        colour = quoteattr(PALETTE[i % len(PALETTE)])
        parts.append(f'<rect x="{_fmt(lx)}" y="{_fmt(y - 9)}" width="12" height="10" '
                     f"fill={colour}/>")
        parts.append(f'<text x="{_fmt(lx + 18)}" y="{_fmt(y)}">route {i + 1}: '
                     f"{len(route.visits)} stops, {route.distance:.2f}</text>")
    parts.append("</g>")
    return "\n".join(parts)
