"""The home page's chart of posts per month by category: inline SVG drawn on the
server, so the page fetches nothing from the internet and runs no script. The
provenance page draws its credits' shares per month with the same function
(newsarchive.site.provenance)."""
from __future__ import annotations

import weakref
from collections import defaultdict

from markupsafe import Markup, escape

#: The build's count of posts per month by category (newsarchive.build.summaries): a
#: few hundred rows read, whatever the number of posts.
MONTHS_SQL = "select month, value, posts from monthly_posts where facet = 'category'"
#: The same counted from every post, for a database built before the summaries were.
MONTHS_FROM_POSTS_SQL = """select published_month, category, count(*)
                from posts
                where published_month is not null
                group by published_month, category"""


#: Charts of immutable databases, drawn once per server process: such a file cannot
#: change while the server runs, so neither can its chart.
_drawn: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def home_chart(databases: dict) -> dict | None:
    """The chart of the first database with a posts table, and that database's name."""
    for name, db in databases.items():
        tables = await db.table_names() if name != "_internal" else []
        if "posts" not in tables:
            continue
        if not db.is_mutable and db in _drawn:
            return _drawn[db]
        result = await db.execute(MONTHS_SQL if "monthly_posts" in tables else MONTHS_FROM_POSTS_SQL)
        chart = {"database": name, "svg": month_chart_svg([tuple(r) for r in result.rows])}
        if not db.is_mutable:
            _drawn[db] = chart
        return chart
    return None


def y_ticks(peak: int, most: int = 5) -> list[int]:
    """The y-axis ticks for counts up to `peak`: 0 to the first multiple of the step at or
    above peak, in at most `most` equal steps of 1, 2 or 5 x 10^n, the smallest such step."""
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            intervals = -(-max(peak, 1) // step)
            if intervals <= most:
                return [step * n for n in range(intervals + 1)]
        magnitude *= 10


PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def month_chart_svg(rows, max_categories: int = 7, width: int = 900, height: int = 280, *,
                    subject: str = "Posts per month by category", shares: bool = False,
                    empty: str = "No dated posts yet.", none: str = "(none)", legend_width: int = 150) -> Markup:
    """A stacked bar chart (SVG, no script, nothing fetched) of posts per month by category.

    `rows` are (month 'YYYY-MM', category or None, count). Categories beyond the
    largest `max_categories` are summed as "other". With `shares`, each month's bar is
    its categories' shares of that month (the axis in percent), for series whose
    monthly totals differ too much to compare heights; `subject` names the chart and
    `none` the rows without a category; `legend_width` makes room for long names.
    """
    totals: dict[str, int] = defaultdict(int)
    for _, category, count in rows:
        totals[category or none] += count
    top = [c for c, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:max_categories]]
    series: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for month, category, count in rows:
        name = category or none
        series[month][name if name in top else "other"] += count
    months = sorted(series)
    names = top + (["other"] if any("other" in v for v in series.values()) else [])
    if not months:
        return Markup(f'<p class="news-chart-empty">{escape(empty)}</p>')
    left, bottom, top_pad, legend_w = 44, 40, 12, legend_width
    plot_w, plot_h = width - left - legend_w, height - bottom - top_pad
    month_total = {month: sum(v.values()) for month, v in series.items()}
    ticks = y_ticks(100 if shares else max(month_total.values()))
    peak = ticks[-1]  # bars are scaled to the top tick, so the axis reads true
    unit = "%" if shares else ""
    bar_w = plot_w / len(months)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="news-chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px" aria-label="{escape(subject)}">',
        f"<title>{escape(subject)}, {escape(months[0])} to {escape(months[-1])}</title>",
    ]
    for value in ticks:
        y = top_pad + plot_h - plot_h * value / peak
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text class="y-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{value}{unit}</text>')
    label_every = max(1, len(months) // 12)
    for index, month in enumerate(months):
        x = left + index * bar_w
        y = top_pad + plot_h
        for n, name in enumerate(names):
            count = series[month].get(name, 0)
            if not count:
                continue
            share = 100 * count / month_total[month]
            h = plot_h * (share if shares else count) / peak
            y -= h
            label = f"{count} of {month_total[month]} ({share:.0f}%)" if shares else f"{count}"
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(month)} {escape(name)}: {label}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top_pad + plot_h + 16}" text-anchor="middle" font-size="11">{escape(month)}</text>'
            )
    for n, name in enumerate(names):
        y = top_pad + 14 + n * 18
        parts.append(f'<rect x="{width - legend_w + 10}" y="{y - 10}" width="12" height="12" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{width - legend_w + 28}" y="{y}" font-size="12">{escape(name)} ({totals.get(name, sum(series[m].get(name, 0) for m in months))})</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
