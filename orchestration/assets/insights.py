"""Insights: unit economics, budgets with forecasts, cost anomalies (see docs/unit_economics.md).

They read allocated cost through two views built here from the lake, in the amortized basis:
`team_cost_daily` (cost_allocation by day, team, product, account, service; unowned cost as
team 'unallocated') and `line_item_costs` (line items with their owner, for the resources
behind an anomaly).
"""

from transforms import insights
from transforms.allocation import allocate_line_items

from orchestration.assets.curated import BuildContext, CuratedTable, curated_asset, failures_gate

TEAM_COST_DAILY = """
CREATE OR REPLACE VIEW team_cost_daily AS
SELECT usage_date, billing_period, coalesce(team, 'unallocated') AS team, product, usage_account_id,
       service_code, sum(direct_amortized_cost) AS direct_cost, sum(shared_amortized_cost) AS shared_cost
FROM cost_allocation
GROUP BY ALL
"""


def _team_cost_daily(ctx: BuildContext) -> None:
    ctx.con.execute(TEAM_COST_DAILY)


def _line_item_costs(ctx: BuildContext) -> None:
    owned = allocate_line_items(ctx.con, ctx.allocation_config, "cost_line_items", billing_period=None)
    owned.create_view("allocated_line_items_v", replace=True)
    ctx.con.execute(
        "CREATE OR REPLACE VIEW line_item_costs AS SELECT usage_date, team, usage_account_id, service_code, "
        "resource_id, amortized_cost AS cost FROM allocated_line_items_v"
    )


def _build_unit_economics(ctx: BuildContext):
    _team_cost_daily(ctx)
    return insights.build_unit_economics(ctx.con, ctx.billing_period)


def _build_budget_variance(ctx: BuildContext):
    _team_cost_daily(ctx)
    return insights.build_budget_variance(ctx.con, ctx.billing_period)


def _build_forecast_accuracy(ctx: BuildContext):
    _team_cost_daily(ctx)
    return insights.build_forecast_accuracy(ctx.con, ctx.billing_period, require_closed=False)


def _build_cost_anomalies(ctx: BuildContext):
    _team_cost_daily(ctx)
    _line_item_costs(ctx)
    return insights.build_cost_anomalies(ctx.con, ctx.billing_period)


unit_economics = curated_asset(CuratedTable(
    name="unit_economics",
    description="Per day and month, per team and product: allocated cost, revenue, orders, active users, "
                "cost per order and per active user, cloud cost share of revenue, gross margin, change vs the "
                "previous period (null with a reason where a denominator is zero or missing).",
    build=_build_unit_economics,
    inputs=["business_metrics_daily"],
    history_inputs=["cost_allocation"],
    gates=[failures_gate("reconciles_with_allocation_and_metrics",
                         "Allocated cost equals cost_allocation and revenue/orders equal business_metrics_daily.",
                         lambda ctx, staged: insights.check_unit_economics(ctx.con, staged, ctx.billing_period))],
    group="insights",
))

budget_variance = curated_asset(CuratedTable(
    name="budget_variance",
    description="Per team (and service where budgeted) and month: budget, actual to date, full-month forecast, "
                "variance in money and percent, status (on track, at risk, over).",
    build=_build_budget_variance,
    inputs=["budgets"],
    history_inputs=["cost_allocation"],
    gates=[failures_gate("actuals_equal_allocated_cost", "Budget actuals equal allocated cost per team and month.",
                         lambda ctx, staged: insights.check_budget_variance(ctx.con, staged, ctx.billing_period))],
    group="insights",
))

forecast_accuracy = curated_asset(CuratedTable(
    name="forecast_accuracy",
    description="For closed months: the forecast as it stood on days 7, 14, 21 and 28 against the actual, "
                "accuracy = 1 - |forecast - actual| / actual.",
    build=_build_forecast_accuracy,
    inputs=["budgets"],
    history_inputs=["cost_allocation"],
    group="insights",
))

cost_anomalies = curated_asset(CuratedTable(
    name="cost_anomalies",
    description="Daily cost per team x service x account against a robust baseline of the preceding weeks: "
                "day first seen, expected and actual cost, impact, owner, service, account, top resources.",
    build=_build_cost_anomalies,
    history_inputs=["cost_allocation", "cost_line_items"],
    group="insights",
))

ASSETS = [unit_economics, budget_variance, forecast_accuracy, cost_anomalies]
