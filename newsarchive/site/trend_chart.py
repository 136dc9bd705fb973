"""The trends page's chart: the share of each month's posts that match each term, one
line per term (and group), as inline SVG drawn on the server (nothing fetched, no script)."""
from __future__ import annotations

import math

from markupsafe import Markup, escape

from .chart import PALETTE, y_ticks

#: Most lines one chart draws, those with the most matches; the table and downloads
#: hold every series.
MAX_LINES = 10
#: Months up to which each point is drawn (with its figures as a tooltip).
MAX_POINTS = 240


def most_matched(lines, most: int = MAX_LINES) -> list:
    """The `most` lines with the most matches over all their months, in their own order
    (of equal lines, the earlier)."""
    ranked = sorted(range(len(lines)), key=lambda i: (-sum(row.matches for row in lines[i][1]), i))
    return [lines[i] for i in sorted(ranked[:most])]


def share_chart_svg(lines, width: int = 900, height: int = 300) -> Markup:
    """`lines`: (name, rows) with rows of one series per month (TrendRow), all of the
    same months; the MAX_LINES with the most matches are drawn. The y axis is the share
    of posts, in percent."""
    lines = most_matched(lines)
    if not lines or not lines[0][1]:
        return Markup('<p class="news-chart-empty">Nothing to draw.</p>')
    months = [row.month for row in lines[0][1]]
    left, bottom, top_pad, legend_w = 56, 40, 12, 190
    plot_w, plot_h = width - left - legend_w, height - bottom - top_pad
    # Ticks in hundredths of a percent, so that shares well under 1% get their own steps.
    peak_share = max((row.share or 0) for _, rows in lines for row in rows)
    ticks = y_ticks(max(1, math.ceil(peak_share * 10000)))
    top = ticks[-1] / 10000
    step = plot_w / max(len(months) - 1, 1)

    def xy(index: int, share: float | None) -> tuple[float, float]:
        return left + index * step, top_pad + plot_h - plot_h * (share or 0) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="news-chart news-trend-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'aria-label="Share of posts matching each term, per month">',
        f"<title>Share of posts matching each term, {escape(months[0])} to {escape(months[-1])}</title>",
    ]
    for value in ticks:
        y = top_pad + plot_h - plot_h * value / ticks[-1]
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value / 100:g}%</text>')
    label_every = max(1, math.ceil(len(months) / 12))
    for index, month in enumerate(months):
        if index % label_every == 0:
            x, _ = xy(index, 0)
            parts.append(f'<text x="{x:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" font-size="11">'
                         f'{escape(month)}</text>')
    for n, (name, rows) in enumerate(lines):
        parts.extend(_line(n, name, rows, xy, len(months) <= MAX_POINTS))
        y = top_pad + 14 + n * 18
        parts.append(f'<line x1="{width - legend_w + 8}" x2="{width - legend_w + 24}" y1="{y - 4}" y2="{y - 4}" '
                     f'stroke="{PALETTE[n % len(PALETTE)]}" stroke-width="3"{_dash(n)}/>')
        parts.append(f'<text class="news-trend-legend" x="{width - legend_w + 28}" y="{y}" font-size="12">'
                     f'{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _line(n: int, name: str, rows, xy, points: bool) -> list[str]:
    colour = PALETTE[n % len(PALETTE)]
    coords = " ".join("{:.1f},{:.1f}".format(*xy(i, row.share)) for i, row in enumerate(rows))
    out = [f'<polyline class="news-trend-line" fill="none" stroke="{colour}" stroke-width="2"{_dash(n)} '
           f'points="{coords}"/>']
    if points:
        for i, row in enumerate(rows):
            x, y = xy(i, row.share)
            share = "no posts" if row.share is None else f"{row.share:.2%}"
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"><title>{escape(name)}, '
                       f'{escape(row.month)}: {row.matches} of {row.posts} posts ({share})</title></circle>')
    return out


def _dash(n: int) -> str:
    """Lines past the palette's colours repeat them dashed, so no two lines look alike."""
    return ' stroke-dasharray="6 3"' if n >= len(PALETTE) else ""
