"""The report's charts: matplotlib figures rendered to PNG bytes, to be embedded in the page.

Figures are built with ``matplotlib.figure.Figure`` and its Agg canvas, never pyplot: no global
state, no display, safe in a Dagster worker thread. Amounts arrive as Decimal and are plotted as
floats (drawing needs no cent precision; the tables beside the charts print the exact figures).
Negative amounts (credits) are stacked below zero so a bar never hides its other parts.

Speed: a month's reports draw hundreds of charts, and matplotlib's cost is laying a figure out
(ticks, text extents), not painting pixels. ``_png`` therefore lays each figure out once (see
there), and titles over axes whose tick labels never carry an offset text ("1e6") are placed at
the top of the axes directly (``_title``) instead of matplotlib measuring every tick label at
each draw to check that nothing overlaps them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, DayLocator
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import Bbox
from PIL import Image

DIRECT = "#2f6db3"
SHARED = "#f0a030"
ACTUAL = "#2f6db3"
BUDGET = "#c0392b"
FORECAST = "#7f8c8d"
PALETTE = ("#2f6db3", "#f0a030", "#3a9d5d", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d35400")
DPI = 100
# Blank space added around a figure before it is drawn (inches: left, bottom, right, top), so that
# whatever sticks out of it (long tick labels, the legend right of the plot) lands on the canvas.
MARGIN = (3.0, 1.0, 2.0, 1.0)
MARGIN_SCALES = (1, 2, 4, 8)  # the margin doubles while what is drawn reaches the canvas edge
PAD_INCHES = 0.1  # blank border kept around what is drawn (savefig's default pad_inches)


def _png(fig: Figure) -> bytes:
    """``fig`` drawn once, cropped to what is drawn plus ``PAD_INCHES``, as an RGB PNG.

    What ``savefig(bbox_inches="tight")`` gives, at a third of its cost: savefig lays the figure out
    once to measure it, again to find its tight box, then a third time to paint the resized figure.
    Here the canvas is grown by ``MARGIN`` around the figure, the axes keeping their size and place
    relative to one another, painted once, and cropped to its non-background pixels. Should
    anything touch the canvas edge (a label longer than the margin), the margin doubles and the
    figure is drawn again, so nothing is ever cut off (ValueError past ``MARGIN_SCALES``). The
    background is opaque, hence RGB: a quarter less to compress than savefig's RGBA.
    """
    fig.set_dpi(DPI)
    width, height = fig.get_size_inches()
    places = [(ax, ax.get_position(original=True)) for ax in fig.axes]
    canvas = FigureCanvasAgg(fig)
    background = np.frombuffer(bytes(round(c * 255) for c in fig.get_facecolor()), dtype=np.uint32)[0]
    for scale in MARGIN_SCALES:
        left, bottom, right, top = (m * scale for m in MARGIN)
        full_w, full_h = width + left + right, height + bottom + top
        fig.set_size_inches(full_w, full_h)
        for ax, p in places:
            ax.set_position(Bbox.from_extents((left + p.x0 * width) / full_w, (bottom + p.y0 * height) / full_h,
                                              (left + p.x1 * width) / full_w, (bottom + p.y1 * height) / full_h))
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        ink = rgba.view(np.uint32)[..., 0] != background
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        if rows.size == 0 or (rows[0] > 0 and cols[0] > 0 and rows[-1] < ink.shape[0] - 1 and cols[-1] < ink.shape[1] - 1):
            break
    else:
        titles = [t for ax in fig.axes for t in (ax.get_title(loc="left"), ax.get_title()) if t]
        raise ValueError(f"chart {' / '.join(titles) or '(untitled)'}: what it draws does not fit in the figure plus a blank "
                         f"margin of {left:g} in left, {right:g} in right, {bottom:g} in below and {top:g} in above "
                         "(a label tens of inches long?)")
    pad = round(PAD_INCHES * DPI)
    if rows.size:
        rgba = rgba[max(rows[0] - pad, 0):rows[-1] + 1 + pad, max(cols[0] - pad, 0):cols[-1] + 1 + pad]
    buf = io.BytesIO()
    Image.fromarray(rgba).convert("RGB").save(buf, format="png", dpi=(DPI, DPI))
    return buf.getvalue()


def _title(ax, text: str) -> None:
    """The axes' title, left-aligned on top of it: only for axes whose y tick labels never carry an
    offset text (money, categories, fixed 0-100 scales), the one thing matplotlib would move it for."""
    ax.set_title(text, loc="left", fontsize=11, y=1.0)


def _money_axis(ax, currency: str, axis: str = "y") -> None:
    """Tick labels with thousands separators; cents only when the axis spans less than 20."""
    get_lim = ax.get_ylim if axis == "y" else ax.get_xlim

    def fmt(value: float, _pos: int) -> str:
        low, high = get_lim()
        return f"{value:,.0f}" if abs(high - low) >= 20 else f"{value:,.2f}"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(fmt))
    (ax.set_ylabel if axis == "y" else ax.set_xlabel)(currency)


def _legend(ax) -> None:
    """The legend to the right of the plot, where it never covers a bar or a line."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def _stack(ax, positions, series: Sequence[tuple[str, str, Sequence[float]]], horizontal: bool = False, width: float = 0.7) -> None:
    """Stacked bars where positive parts grow from zero up and negative parts from zero down."""
    up = [0.0] * len(positions)
    down = [0.0] * len(positions)
    for label, color, values in series:
        base = [u if v >= 0 else d for v, u, d in zip(values, up, down)]
        if horizontal:
            ax.barh(positions, values, left=base, height=width, color=color, label=label)
        else:
            ax.bar(positions, values, bottom=base, width=width, color=color, label=label)
        up = [u + v if v >= 0 else u for v, u in zip(values, up)]
        down = [d + v if v < 0 else d for v, d in zip(values, down)]


def _f(values) -> list[float]:
    return [float(v) if v is not None else 0.0 for v in values]


def monthly_trend(months: Sequence[str], direct: Sequence[Decimal], shared: Sequence[Decimal], currency: str) -> bytes:
    """Allocated cost per month, direct and shared stacked, total written above each bar."""
    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    x = list(range(len(months)))
    d, s = _f(direct), _f(shared)
    _stack(ax, x, [("direct", DIRECT, d), ("shared", SHARED, s)])
    for xi, total in zip(x, (a + b for a, b in zip(d, s))):
        below = total < 0  # a net credit: the label goes under its bar
        ax.annotate(f"{total:,.2f}", (xi, total), ha="center", va="top" if below else "bottom", fontsize=8,
                    xytext=(0, -2 if below else 2), textcoords="offset points")
    ax.margins(y=0.12)
    ax.set_xticks(x, months)
    ax.axhline(0, color="#999999", linewidth=0.8)
    _money_axis(ax, currency)
    _style(ax)
    _legend(ax)
    _title(ax, "Allocated cost per month (amortized)")
    return _png(fig)


def _month_axis(fig: Figure, ax, month: Sequence[date]) -> None:
    """Days on the x axis spanning the whole month, whatever part of it has data."""
    ax.set_xlim(month[0] - timedelta(days=0.6), month[-1] + timedelta(days=0.6))
    ax.xaxis.set_major_locator(DayLocator(bymonthday=(1, 8, 15, 22, 29)))
    ax.xaxis.set_major_formatter(DateFormatter("%b %d"))
    fig.autofmt_xdate()


def daily_cost(days: Sequence[date], direct: Sequence[Decimal], shared: Sequence[Decimal], month: Sequence[date],
               currency: str) -> bytes:
    """Allocated cost per day of the month, direct and shared stacked."""
    fig = Figure(figsize=(8, 3.0))
    ax = fig.add_subplot()
    _stack(ax, list(days), [("direct", DIRECT, _f(direct)), ("shared", SHARED, _f(shared))], width=0.8)
    ax.axhline(0, color="#999999", linewidth=0.8)
    _month_axis(fig, ax, month)
    _money_axis(ax, currency)
    _style(ax)
    _legend(ax)
    _title(ax, "Allocated cost per day")
    return _png(fig)


def by_service(services: Sequence[str], direct: Sequence[Decimal], shared: Sequence[Decimal], currency: str) -> bytes:
    """Horizontal bars per service, largest on top, direct and shared stacked."""
    n = len(services)
    fig = Figure(figsize=(8, 0.9 + 0.32 * max(n, 1)))
    ax = fig.add_subplot()
    y = list(range(n))[::-1]
    _stack(ax, y, [("direct", DIRECT, _f(direct)), ("shared", SHARED, _f(shared))], horizontal=True)
    ax.set_yticks(y, services)
    ax.axvline(0, color="#999999", linewidth=0.8)
    _money_axis(ax, currency, axis="x")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _legend(ax)
    _title(ax, "Cost by service")
    return _png(fig)


def direct_and_shared(labels: Sequence[str], amounts: Sequence[Decimal], shared: Sequence[bool], currency: str) -> bytes:
    """One bar per source of the team's cost: its direct cost by allocation method, then each pool."""
    n = len(labels)
    fig = Figure(figsize=(8, 0.9 + 0.32 * max(n, 1)))
    ax = fig.add_subplot()
    y = list(range(n))[::-1]
    ax.barh(y, _f(amounts), color=[SHARED if s else DIRECT for s in shared], height=0.7)
    ax.set_yticks(y, labels)
    ax.axvline(0, color="#999999", linewidth=0.8)
    _money_axis(ax, currency, axis="x")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _title(ax, "Direct cost by allocation method, shared cost by pool")
    return _png(fig)


def unit_costs(series: dict[str, tuple[list[date], list[float | None], list[float | None]]], month: Sequence[date],
               currency: str) -> bytes:
    """Cost per order and cost per active user per day, one line per product (gaps where undefined)."""
    fig = Figure(figsize=(8, 4.6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    for (product, (days, per_order, per_user)), color in zip(series.items(), PALETTE * 4):
        top.plot(days, [v if v is not None else float("nan") for v in per_order], color=color, marker=".", label=product)
        bottom.plot(days, [v if v is not None else float("nan") for v in per_user], color=color, marker=".", label=product)
    top.set_title("Cost per order", loc="left", fontsize=11)
    bottom.set_title("Cost per daily active user", loc="left", fontsize=11)
    for ax in (top, bottom):
        _style(ax)
        ax.set_ylabel(currency)
    _legend(top)
    _month_axis(fig, bottom, month)
    return _png(fig)


def budget_burn(days: Sequence[date], cumulative: Sequence[Decimal], budget: Decimal | None,
                forecast: tuple[date, Decimal, Decimal] | None, month: Sequence[date], currency: str) -> bytes:
    """Cumulative actual cost (one point per day) against the budget line; ``forecast`` is
    (as_of, actual at as_of, forecast of the month), drawn from as_of to the month end."""
    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    ax.plot(list(days), _f(cumulative), color=ACTUAL, linewidth=2, marker=".", label="actual (cumulative)")
    if budget is not None:
        ax.axhline(float(budget), color=BUDGET, linestyle="-", linewidth=1.2, label=f"budget {budget:,.2f}")
    if forecast is not None:
        as_of, actual, total = forecast
        ax.plot([as_of, month[-1]], [float(actual), float(total)], color=FORECAST, linestyle="--", linewidth=1.5,
                marker="o", label=f"forecast {total:,.2f}")
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, 0.0), max(high, 0.0))
    _month_axis(fig, ax, month)
    _money_axis(ax, currency)
    _style(ax)
    _legend(ax)
    _title(ax, "Budget, actual and forecast")
    return _png(fig)


def credit_score(components: Sequence[str], scores: Sequence[float | None], contributions: Sequence[float],
                 weeks: Sequence[date], composites: Sequence[float | None]) -> bytes:
    """Left: each component's score (0-100 points), its contribution written beside it, components
    that do not apply greyed out. Right: the composite score week by week."""
    fig = Figure(figsize=(9, 0.9 + 0.34 * max(len(components), 4)))
    left, right = fig.subplots(1, 2, width_ratios=(2.2, 1))
    y = list(range(len(components)))[::-1]
    left.barh(y, [s if s is not None else 0.0 for s in scores], height=0.7,
              color=[PALETTE[2] if s is not None else "#dddddd" for s in scores])
    for yi, s, c in zip(y, scores, contributions):
        text = f"{s:.0f} pts, +{c:.1f}" if s is not None else "does not apply"
        left.annotate(text, (s if s is not None else 0.0, yi), va="center", fontsize=8, xytext=(3, 0), textcoords="offset points")
    left.set_yticks(y, components)
    left.set_xlim(0, 130)
    left.axvline(100, color="#999999", linewidth=0.8, linestyle=":")
    left.set_xlabel("score (points; 100 = at goal)")
    _title(left, "Components this month")
    right.plot(list(weeks), [c if c is not None else float("nan") for c in composites], color=PALETTE[0], marker="o")
    right.set_ylim(0, 105)
    _title(right, "Composite per week")
    right.set_xticks(list(weeks), [w.strftime("%b %d") for w in weeks])
    right.tick_params(axis="x", labelrotation=45)
    for ax in (left, right):
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return _png(fig)


def teams_overview(teams: Sequence[str], direct: Sequence[Decimal], shared: Sequence[Decimal],
                   budgets: Sequence[Decimal | None], currency: str, period: str) -> bytes:
    """Every team's allocated cost of the month (direct + shared), with its budget as a marker."""
    n = len(teams)
    fig = Figure(figsize=(8, 0.9 + 0.32 * max(n, 1)))
    ax = fig.add_subplot()
    y = list(range(n))[::-1]
    _stack(ax, y, [("direct", DIRECT, _f(direct)), ("shared", SHARED, _f(shared))], horizontal=True)
    marks = [(yi, float(b)) for yi, b in zip(y, budgets) if b is not None]
    if marks:
        ax.scatter([b for _, b in marks], [yi for yi, _ in marks], marker="|", s=220, color=BUDGET, zorder=3, label="budget")
    ax.set_yticks(y, teams)
    ax.axvline(0, color="#999999", linewidth=0.8)
    _money_axis(ax, currency, axis="x")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _legend(ax)
    _title(ax, f"Allocated cost by team, {period}")
    return _png(fig)
