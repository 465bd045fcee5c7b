"""The showback page: one self-contained HTML file per team and month.

Self-contained means it opens from a disk, a mail attachment or an artifact store with no network:
styles are inline, charts are PNGs embedded as ``data:`` URIs, there is no script, and a
Content-Security-Policy (``default-src 'none'``) makes the browser refuse any outside resource
should one ever slip in. Every value from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from transforms import periods
from transforms.report import charts
from transforms.report.gather import ShowbackData

TOP_SERVICES = 10

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 0; background: #f6f7f9; }
main { max-width: 960px; margin: 0 auto; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.meta { color: #666; font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { flex: 1 1 140px; border: 1px solid #e2e2e2; border-radius: 6px; padding: 10px 12px; }
.card .label { color: #666; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 22px; font-weight: 600; margin-top: 2px; }
.card .sub { color: #666; font-size: 12px; }
.status-over { color: #c0392b; } .status-at_risk { color: #d35400; } .status-on_track { color: #2e7d32; }
figure { margin: 8px 0 16px; } figure img { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #fafafa; font-weight: 600; } td:first-child { white-space: nowrap; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.na { color: #666; font-style: italic; background: #fafafa; border: 1px dashed #ccc; padding: 10px; border-radius: 4px; }
footer { color: #888; font-size: 12px; margin-top: 32px; }
"""


@dataclass(frozen=True)
class Report:
    """A rendered report: the page and the charts it embeds (name -> PNG)."""

    team: str
    period: str
    html: str
    charts: dict[str, bytes]


# ----------------------------------------------------------------------------------- formatting


def money(value: Decimal | float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def percent(value: float | Decimal | None) -> str:
    return "–" if value is None else f"{float(value) * 100:,.1f} %"


def change(now: Decimal | None, before: Decimal | None) -> str:
    """'+12.30 (+4.1 %)' against the earlier figure; the ratio only for a positive base."""
    if now is None or before is None:
        return "–"
    diff = now - before
    ratio = f" ({float(diff / before) * 100:+,.1f} %)" if before > 0 else ""
    return f"{diff:+,.2f}{ratio}"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>" for i, v in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _na(text: str) -> str:
    return f'<p class="na">{_e(text)}</p>'


class _Charts:
    """Collects the charts of a page and writes their <figure> elements."""

    def __init__(self) -> None:
        self.png: dict[str, bytes] = {}

    def figure(self, name: str, png: bytes, alt: str) -> str:
        self.png[name] = png
        data = base64.b64encode(png).decode("ascii")
        return f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}" data-chart="{_e(name)}"></figure>'


# ----------------------------------------------------------------------------------- sections


def _header(d: ShowbackData) -> str:
    def share(part: Decimal) -> str:
        return f"{percent(part / d.total) if d.total > 0 else '–'} of the total"

    # (label, value, line under it as HTML)
    cards = [
        ("Allocated cost", money(d.total), _e(f"vs {d.previous}: {change(d.total, d.previous_total)}")),
        ("Direct", money(d.direct), _e(share(d.direct))),
        ("Shared", money(d.shared), _e(share(d.shared))),
    ]
    budget = d.team_budget
    if budget is not None:
        status = budget["status"] or "–"
        forecast = _e("forecast " + money(budget["forecast"]))
        cards.append(("Budget", money(budget["budget"]),
                      f'{forecast}, <span class="status-{_e(status)}">{_e(status.replace("_", " "))}</span>'))
    if d.credit is not None:
        moved = "–" if d.credit["composite_change"] is None else f"{d.credit['composite_change']:+.1f}"
        cards.append(("Credit score", _points(d.credit["composite"]), _e(f"of 100; {moved} vs {d.previous}")))
    out = [
        f"<h1>Showback: {_e(d.team)}, {_e(d.period)}</h1>",
        f'<p class="meta">Products: {_e(", ".join(d.products) or "–")} · cost centers: {_e(", ".join(d.cost_centers) or "–")} · '
        f"data through {_e(d.last_day)} · amounts in {_e(d.currency)}, amortized cost (commitments spread over the usage they cover)</p>",
        '<div class="cards">',
    ]
    out += [f'<div class="card"><div class="label">{_e(label)}</div><div class="value">{_e(value)}</div>'
            f'<div class="sub">{sub}</div></div>' for label, value, sub in cards]
    out.append("</div>")
    return "\n".join(out)


def _trend(d: ShowbackData, c: _Charts) -> str:
    out = ["<h2>Cost trend</h2>"]
    out.append(c.figure("monthly_trend", charts.monthly_trend(
        [r["billing_period"] for r in d.monthly], [r["direct"] for r in d.monthly], [r["shared"] for r in d.monthly], d.currency),
        f"Allocated cost of {d.team} per month, direct and shared"))
    month = periods.days(d.period)
    out.append(c.figure("daily_cost", charts.daily_cost(
        [r["usage_date"] for r in d.daily], [r["direct"] for r in d.daily], [r["shared"] for r in d.daily], month, d.currency),
        f"Allocated cost of {d.team} per day of {d.period}"))
    rows = [[r["billing_period"], money(r["direct"]), money(r["shared"]), money(r["direct"] + r["shared"])] for r in d.monthly]
    out.append(_table(["month", "direct", "shared", "total"], rows, {1, 2, 3}))
    return "\n".join(out)


def _services(d: ShowbackData, c: _Charts) -> str:
    top, rest = d.services[:TOP_SERVICES], d.services[TOP_SERVICES:]
    names = [r["service_code"] or "(no service)" for r in top]
    direct = [r["direct"] for r in top]
    shared = [r["shared"] for r in top]
    if rest:
        names.append(f"{len(rest)} other services")
        direct.append(sum((r["direct"] for r in rest), Decimal(0)))
        shared.append(sum((r["shared"] for r in rest), Decimal(0)))
    out = ["<h2>Cost by service</h2>",
           c.figure("by_service", charts.by_service(names, direct, shared, d.currency), f"Cost of {d.team} by service in {d.period}")]
    rows = [[r["service_code"] or "(no service)", money(r["direct"]), money(r["shared"]), money(r["total"]),
             money(r["previous"]), change(r["total"], r["previous"])] for r in d.services]
    out.append(_table(["service", "direct", "shared", "total", f"total {d.previous}", "change"], rows, {1, 2, 3, 4, 5}))
    return "\n".join(out)


def _direct_shared(d: ShowbackData, c: _Charts) -> str:
    out = ["<h2>Direct and shared cost</h2>",
           "<p>Direct cost is the team's own line items, found by tag, account or rule. Shared cost is the team's "
           "share of pools split across teams (network, support, tax, commitments ...), by each pool's method.</p>"]
    labels = [f"direct: {r['method']}" for r in d.direct_by_method]
    amounts = [r["amount"] for r in d.direct_by_method]
    flags = [False] * len(labels)
    sources = d.shared_sources or []
    labels += [f"shared: {r['pool']}" for r in sources]
    amounts += [r["amount"] for r in sources]
    flags += [True] * len(sources)
    if labels:
        out.append(c.figure("direct_and_shared", charts.direct_and_shared(labels, amounts, flags, d.currency),
                            f"Direct cost of {d.team} by allocation method and shared cost by pool"))
    out.append("<h3>Direct cost by allocation method</h3>")
    out.append(_table(["method", "amount"], [[r["method"], money(r["amount"])] for r in d.direct_by_method], {1})
               if d.direct_by_method else _na("No direct cost this month."))
    out.append("<h3>Where the shared cost came from</h3>")
    if d.shared_sources is None:
        out.append(_na("Not available yet: the lake has no shared_cost_split table."))
    elif not d.shared_sources:
        out.append(_na("No shared cost this month."))
    else:
        rows = [[r["pool"], r["method"], r["driver"], money(r["amount"]), money(r["pool_amount"]), percent(r["share_of_pool"]),
                 r["fallback_days"]] for r in d.shared_sources]
        out.append(_table(["pool", "split method", "driver", "team's share", "pool total", "share of pool",
                           "days split evenly (no driver)"], rows, {3, 4, 5, 6}))
    return "\n".join(out)


def _unit_costs(d: ShowbackData, c: _Charts) -> str:
    out = ["<h2>Unit cost</h2>"]
    if d.unit_daily is None:
        return "\n".join(out + [_na("Not available yet: the lake has no unit_economics table.")])
    if not d.unit_daily:
        return "\n".join(out + [_na("No business metrics for this team and month: unit costs need orders and active users.")])
    series: dict[str, tuple[list, list, list]] = {}
    for r in d.unit_daily:
        days, per_order, per_user = series.setdefault(r["product"], ([], [], []))
        days.append(r["day"])
        per_order.append(r["cost_per_order"])
        per_user.append(r["cost_per_active_user"])
    out.append(c.figure("unit_costs", charts.unit_costs(series, periods.days(d.period), d.currency), f"Daily cost per order and per active user of {d.team}"))
    rows = [[r["billing_period"], r["product"], money(r["allocated_cost"]), money(r["revenue"]), r["orders"],
             f"{r['cost_per_order']:,.4f}" if r["cost_per_order"] is not None else (r["cost_per_order_null_reason"] or "–"),
             f"{r['cost_per_active_user']:,.4f}" if r["cost_per_active_user"] is not None else "–",
             percent(r["cloud_cost_to_revenue"]), percent(r["gross_margin_ratio"])] for r in d.unit_monthly or []]
    out.append(_table(["month", "product", "allocated cost", "revenue", "orders", "cost per order", "cost per active user",
                       "cloud cost / revenue", "gross margin"], rows, {2, 3, 4, 5, 6, 7, 8}))
    return "\n".join(out)


def _budget(d: ShowbackData, c: _Charts) -> str:
    out = ["<h2>Budget, actual and forecast</h2>"]
    if d.budget is None:
        return "\n".join(out + [_na("Not available yet: the lake has no budget_variance table.")])
    team = d.team_budget
    month = periods.days(d.period)
    # Running total on every day from the 1st to the last day with data (days without cost included).
    per_day = {r["usage_date"]: r["direct"] + r["shared"] for r in d.daily}
    days = [day for day in month if day <= d.last_day]
    cumulative, running = [], Decimal(0)
    for day in days:
        running += per_day.get(day, Decimal(0))
        cumulative.append(running)
    forecast = None
    if team and team["forecast"] is not None and team["forecast_method"] != "complete" and team["as_of"] in days:
        forecast = (team["as_of"], cumulative[days.index(team["as_of"])], team["forecast"])
    out.append(c.figure("budget", charts.budget_burn(days, cumulative, team["budget"] if team else None, forecast, month, d.currency),
                        f"Cumulative cost of {d.team} against its budget and forecast"))
    if team and team["forecast_method"] == "complete":
        out.append("<p>The month is complete: the forecast is the actual.</p>")
    rows = [[r["service_code"] or "(whole team)", money(r["budget"]), money(r["actual_mtd"]), r["as_of"], money(r["forecast"]),
             r["forecast_method"], money(r["variance"]), percent(r["budget_used_ratio"]), (r["status"] or "").replace("_", " ")]
            for r in d.budget]
    out.append(_table(["budget", "amount", "actual to date", "as of", "forecast", "method", "forecast - budget", "used",
                       "status"], rows, {1, 2, 4, 6, 7}) if rows else _na("No budget for this team and month."))
    if d.accuracy:
        out.append("<h3>How good the forecast was</h3>")
        rows = [[r["checkpoint_day"], r["as_of"], money(r["forecast"]), money(r["actual"]), percent(r["forecast_accuracy"])]
                for r in d.accuracy]
        out.append(_table(["forecast made on day", "date", "forecast", "actual", "accuracy"], rows, {0, 2, 3, 4}))
    return "\n".join(out)


def _anomalies(d: ShowbackData) -> str:
    out = ["<h2>Cost anomalies</h2>"]
    if d.anomalies is None:
        return "\n".join(out + [_na("Not available yet: the lake has no cost_anomalies table.")])
    if not d.anomalies:
        return "\n".join(out + ["<p>No cost anomaly this month.</p>"])
    rows = [[r["service_code"], r["usage_account_id"] or "all", r["start_date"], r["last_seen"], r["days"],
             money(r["expected_cost"]), money(r["actual_cost"]), money(r["impact"]), ", ".join(r["top_resource_ids"] or [])]
            for r in d.anomalies]
    out.append(_table(["service", "account", "start", "last seen", "days", "expected", "actual", "impact", "top resources"],
                      rows, {4, 5, 6, 7}))
    return "\n".join(out)


def _points(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _credit_score(d: ShowbackData, c: _Charts) -> str:
    out = ["<h2>Credit score</h2>"]
    if d.credit_components is None:
        return "\n".join(out + [_na("Not available yet: the lake has no credit_score table.")])
    if not d.credit_components:
        return "\n".join(out + [_na(f"No credit score for {d.team} in {d.period}.")])
    head = d.credit
    moved = "no previous month to compare" if head["composite_change"] is None else f"{head['composite_change']:+.1f} against the previous month"
    out.append(f"<p>Efficiency credit score of the month: <strong>{_e(_points(head['composite']))}</strong> of 100 ({_e(moved)}). "
               "Each component scores 0 to 100 points against its goal; components that do not apply to the team are dropped "
               "and the others reweighted (docs/credit_score.md).</p>")
    rows = d.credit_components
    out.append(c.figure("credit_score", charts.credit_score(
        [r["component"] for r in rows], [r["score"] if r["applies"] else None for r in rows],
        [r["contribution"] or 0.0 for r in rows], [w["week_start"] for w in d.credit_weeks or []],
        [w["composite"] for w in d.credit_weeks or []]), f"Credit score components of {d.team} and its weekly composite"))
    table = [[r["component"], "%.3f" % r["value"] if r["value"] is not None else "–", "%.3f" % r["goal"] if r["goal"] is not None else "–",
              _points(r["score"]) if r["applies"] else "does not apply", percent(r["effective_weight"]), _points(r["contribution"]),
              f"{r['contribution_change']:+.1f}" if r["contribution_change"] is not None else "–"] for r in rows]
    out.append(_table(["component", "value", "goal", "score", "weight", "points", "change"], table, {1, 2, 3, 4, 5, 6}))
    return "\n".join(out)


def _recommendations(d: ShowbackData) -> str:
    out = ["<h2>Top recommendations</h2>"]
    if d.recommendations is None:
        return "\n".join(out + [_na("Not available yet: the lake has no recommendations table.")])
    if not d.recommendations:
        return "\n".join(out + [f"<p>No recommendation for {_e(d.team)} in {_e(d.period)}: its efficiency KPIs are at goal.</p>"])
    rows = [[r["priority"], r["action"], r["category"], r["service_code"], money(r["estimated_monthly_savings"]),
             money(r["potential_monthly_savings"]), r["resource_count"], ", ".join((r["top_resources"] or [])[:3])]
            for r in d.recommendations]
    return "\n".join(out + [_table(["#", "action", "category", "service", "saves per month at goal", "if all moved",
                                      "resources", "costliest resources"], rows, {0, 4, 5, 6})])


def render(d: ShowbackData, generated_at: datetime | None = None) -> Report:
    """The report page of ``d`` and its charts."""
    c = _Charts()
    body = [
        _header(d), _trend(d, c), _services(d, c), _direct_shared(d, c), _unit_costs(d, c), _budget(d, c),
        _credit_score(d, c), _recommendations(d), _anomalies(d),
    ]
    stamp = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Showback {_e(d.team)} {_e(d.period)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
{chr(10).join(body)}
<footer>Generated by curlake on {_e(stamp)} from the lake's cost_allocation, shared_cost_split, unit_economics,
budget_variance, forecast_accuracy, credit_score, recommendations and cost_anomalies tables.</footer>
</main>
</body>
</html>
"""
    return Report(d.team, d.period, page, dict(c.png))
