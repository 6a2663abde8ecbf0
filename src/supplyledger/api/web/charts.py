"""Small inline SVG charts: no JavaScript, no external assets, readable by screen readers
and on a phone: each chart has a title, and its numbers follow it as a table (folded
away under "The numbers"), since a chart scaled to a phone's width has 5-pixel labels and
a screen reader reads an image's title, not its bars.

:func:`line` draws measurements over time (a logger's temperatures) against the band a
rule allows, with the readings outside it marked, in the unit people read (°C)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bars", "columns", "line"]


def _nice(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def _numbers(items: Sequence[tuple[str, float]], title: str,
             fmt: Callable[[float], str] = _nice, html: Callable[[str], str] = escape) -> str:
    """The chart's data as a table, folded under a summary; ``html`` makes a label HTML
    (escapes it, unless the caller's labels are HTML already)."""
    rows = "".join(f"<tr><th scope=\"row\">{html(label)}</th><td>{fmt(v)}</td></tr>"
                   for label, v in items)
    return (f'<details class="chart-data"><summary>The numbers</summary>'
            f'<table class="small"><caption class="visually-hidden">{escape(title)}</caption>'
            f"<tbody>{rows}</tbody></table></details>")


def bars(items: Sequence[tuple[str, float]], *, title: str, width: int = 420,
         colour: str = "bar") -> Markup:
    """Horizontal bars, one per (label, value)."""
    if not items:
        return Markup(f'<p class="muted">{escape(title)}: no data yet.</p>')
    row, label_w = 24, 140
    top = max(v for _, v in items) or 1
    h = row * len(items) + 8
    parts = [f'<svg class="chart" viewBox="0 0 {width} {h}" width="100%" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for i, (label, v) in enumerate(items):
        y = 4 + i * row
        w = max(1.0, (width - label_w - 60) * v / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" '
                     f'class="lbl">{escape(label[:22])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
                     f'rx="2" class="{colour}"/>')
        parts.append(f'<text x="{label_w + w + 5:.1f}" y="{y + 15}" class="val">'
                     f'{_nice(v)}</text>')
    parts.append("</svg>")
    parts.append(_numbers(items, title))
    return Markup("".join(parts))


def columns(items: Sequence[tuple[str, float]], *, title: str, width: int = 640,
            height: int = 180) -> Markup:
    """Vertical columns over time (e.g. transactions per day); every 7th label shown."""
    if not items:
        return Markup(f'<p class="muted">{escape(title)}: no data yet.</p>')
    top = max(v for _, v in items) or 1
    base, left = height - 24, 36
    step = (width - left - 4) / len(items)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line x1="{left}" y1="{base}" x2="{width - 2}" y2="{base}" class="axis"/>',
             f'<text x="{left - 4}" y="14" text-anchor="end" class="val">{_nice(top)}</text>',
             f'<text x="{left - 4}" y="{base}" text-anchor="end" class="val">0</text>']
    for i, (label, v) in enumerate(items):
        x = left + i * step
        hh = (base - 8) * v / top
        parts.append(f'<rect x="{x + 1:.1f}" y="{base - hh:.1f}" width="{max(1, step - 2):.1f}"'
                     f' height="{hh:.1f}" class="bar"><title>{escape(label)}: {_nice(v)}'
                     f'</title></rect>')
        if i % 7 == 0:
            parts.append(f'<text x="{x + 1:.1f}" y="{height - 8}" class="lbl">'
                         f'{escape(label[5:])}</text>')
    parts.append("</svg>")
    parts.append(_numbers(items, title))
    return Markup("".join(parts))


def _one(v: float) -> str:
    return f"{v:.1f}"  # a measurement: one decimal whatever its size (12.5 °C, not 12)


def line(points: Sequence[tuple[int, float]], *, title: str, when: Callable[[int], str],
         unit: str, band: tuple[float, float] | None = None, width: int = 640,
         height: int = 200, tag: Callable[[int], str] | None = None) -> Markup:
    """Values over time, ``points`` as (epoch ms, value) in time order: a line, the band
    a rule allows shaded, points outside it marked; ``when`` words a time for the axis
    (SVG text), ``tag`` gives it as HTML for the numbers table (``render.time_tag``;
    ``when``'s words escaped if not given)."""
    if not points:
        return Markup(f'<p class="muted">{escape(title)}: no readings yet.</p>')
    vals = [v for _, v in points] + (list(band) if band else [])
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    t0, t1 = points[0][0], points[-1][0]
    left, right, top, base = 44, width - 6, 8, height - 22

    def x(t: int) -> float:
        return left + (right - left) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.5)

    def y(v: float) -> float:
        return base - (base - top) * (v - lo) / (hi - lo)

    def out(v: float) -> bool:
        return band is not None and not band[0] <= v <= band[1]

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    if band:
        parts.append(f'<rect x="{left}" y="{y(band[1]):.1f}" width="{right - left}" '
                     f'height="{y(band[0]) - y(band[1]):.1f}" class="band" fill="#2e7d32" '
                     f'fill-opacity="0.12"><title>allowed {_one(band[0])} to {_one(band[1])}'
                     f' {escape(unit)}</title></rect>')
        for v in band:
            parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
                         f'class="val">{_one(v)}</text>')
    else:
        for v in (lo + pad, hi - pad):
            parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end" '
                         f'class="val">{_one(v)}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" class="lbl">'
                 f'{escape(unit)}</text>')
    parts.append(f'<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" class="axis"/>')
    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="currentColor" '
                 f'stroke-width="1.5" class="line"/>')
    for t, v in points:
        if out(v):
            parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5" class="out" '
                         f'fill="#c62828"><title>{escape(when(t))}: {_one(v)} '
                         f'{escape(unit)}</title></circle>')
    for t, anchor in ((t0, "start"), (t1, "end")):
        parts.append(f'<text x="{x(t):.1f}" y="{height - 6}" text-anchor="{anchor}" '
                     f'class="lbl">{escape(when(t))}</text>')
    parts.append("</svg>")
    html = tag or (lambda t: escape(when(t)))
    rows = [(f"{html(t)}{' (out of range)' if out(v) else ''}", v) for t, v in points]
    parts.append(_numbers(rows, f"{title} ({unit})", _one, html=str))
    return Markup("".join(parts))
