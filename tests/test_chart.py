"""The home page chart's y axis: ticks at equal, round steps from 0 to at least the
tallest bar, and the bars drawn on the same scale as the ticks."""
from __future__ import annotations

import math
import re

import pytest

from newsarchive.site.chart import month_chart_svg, y_ticks

PEAKS = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 17, 23, 37, 49, 50, 51, 99, 100, 101, 250, 509, 999, 1234, 98765]


def is_nice(step: int) -> bool:
    """1, 2 or 5 times a power of ten."""
    exponent = math.floor(math.log10(step))
    return step / 10**exponent in (1, 2, 5)


@pytest.mark.parametrize("peak", PEAKS)
def test_ticks_are_even_round_steps_covering_the_peak(peak):
    ticks = y_ticks(peak)
    steps = {b - a for a, b in zip(ticks, ticks[1:])}
    assert ticks[0] == 0 and len(steps) == 1, ticks
    (step,) = steps
    assert is_nice(step), ticks
    assert ticks[-1] >= peak > ticks[-2], ticks  # no empty step above the peak
    assert 2 <= len(ticks) <= 6, ticks
    # The smallest nice step that fits: the next smaller one would need more than 5 steps.
    smaller = max((s for s in range(1, step) if is_nice(s)), default=None)
    assert smaller is None or math.ceil(peak / smaller) > 5, (ticks, smaller)


def test_uneven_ticks_of_old_are_gone():
    # A peak of 9 once gave 0, 2, 4, 7, 9.
    assert y_ticks(9) == [0, 2, 4, 6, 8, 10]
    assert y_ticks(3) == [0, 1, 2, 3]
    assert y_ticks(509) == [0, 200, 400, 600]


def tick_labels(svg: str) -> list[tuple[float, int]]:
    return [(float(y), int(v)) for y, v in re.findall(r'<text class="y-tick" x="[^"]*" y="([^"]*)"[^>]*>(\d+)</text>', svg)]


@pytest.mark.parametrize("peak", [1, 7, 9, 23, 140])
def test_chart_draws_the_ticks_evenly_and_bars_on_their_scale(peak):
    rows = [("2024-01", "world", peak - peak // 3), ("2024-01", "life", peak // 3), ("2024-02", "world", 1)]
    svg = str(month_chart_svg(rows))
    labels = tick_labels(svg)
    assert [v for _, v in labels] == y_ticks(peak)
    gaps = {round(a[0] - b[0], 1) for a, b in zip(labels, labels[1:])}
    assert len(gaps) == 1 and gaps.pop() > 0, labels
    # The tallest month's bars reach exactly the height its count has on the axis.
    bars = re.findall(r'height="([^"]*)" fill="[^"]*"><title>2024-01 ', svg)
    per_post = (labels[0][0] - labels[-1][0]) / labels[-1][1]
    assert sum(float(h) for h in bars) == pytest.approx(peak * per_post, abs=0.2)
