"""Small inline SVG charts: no JavaScript, no external assets, readable by screen readers
and on a phone: each chart has a title, and its numbers follow it as a table (folded
away under "The numbers"), since a chart scaled to a phone's width has 5-pixel labels and
a screen reader reads an image's title, not its bars."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bars", "columns"]


def _nice(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def _numbers(items: Sequence[tuple[str, float]], title: str) -> str:
    """The chart's data as a table, folded under a summary."""
    rows = "".join(f"<tr><th scope=\"row\">{escape(label)}</th><td>{_nice(v)}</td></tr>"
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
