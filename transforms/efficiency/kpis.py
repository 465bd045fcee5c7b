"""`efficiency_kpis`: per owner (and account), per week and month, how efficiently it uses the cloud.

Long format, one row per KPI with its numerator and denominator, so an analyst can re-add them
(numerators and denominators are additive across teams, accounts and weeks; the value is not).
Definitions and the week rule: docs/credit_score.md; SQL: sql/efficiency_kpis/.
"""

from __future__ import annotations

import duckdb

from transforms import periods
from transforms.allocation import AllocationConfig
from transforms.efficiency import inputs, sqlparts
from transforms.efficiency.config import CreditScoreConfig, load_config
from transforms.insights.inputs import previous_period
from transforms.sqlrunner import load_sql


def build_efficiency_kpis(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    *,
    line_items: str = "cost_line_items",
    allocation_config: AllocationConfig,
    budget_variance: str = "budget_variance",
    unit_economics: str = "unit_economics",
    config: CreditScoreConfig | None = None,
) -> duckdb.DuckDBPyRelation:
    """The `efficiency_kpis` rows of ``billing_period`` (a lazy relation; nothing runs until it is read).

    Columns: billing_period, grain ('week' | 'month'), period_start, period_end, days (days with
    line items in the window), team (NULL = the whole organization; '(shared)' = shared-pool items,
    'unallocated' = unowned ones), usage_account_id (NULL = all accounts), kpi, cost_basis,
    numerator and denominator (DECIMAL(18,2)), value (DOUBLE, NULL when the KPI does not apply),
    goal (the config's), applies (the denominator is positive).

    Weeks are ISO weeks whose Sunday falls in the period; the first may start in the previous
    period, so ``line_items``, ``budget_variance`` and ``unit_economics`` should hold the previous
    period too (without it the first week counts fewer days: see ``days``). Budget adherence and
    unit cost trend are per team only (usage_account_id NULL).
    """
    periods.validate(billing_period)
    config = config or load_config()
    previous = previous_period(billing_period)
    inputs.require_columns(con, "line_items", line_items, inputs.LINE_ITEMS)
    inputs.require_period(con, "line_items", line_items, billing_period)
    inputs.require_columns(con, "budget_variance", budget_variance, inputs.BUDGET_VARIANCE)
    inputs.require_columns(con, "unit_economics", unit_economics, inputs.UNIT_ECONOMICS)
    week_start, week_end = sqlparts.week_bounds(billing_period)
    ctes, params = sqlparts.classified_ctes(
        allocation_config, config, line_items, [previous, billing_period], read_from=week_start
    )
    month_start = periods.first_day(billing_period)
    params.update(
        billing_period=billing_period,
        previous_period=previous,
        month_start=month_start,
        month_end=periods.days(billing_period)[-1],
        week_start=week_start,
        week_end=week_end,
        components=config.components_param(),
        budget_variance=budget_variance,
        unit_economics=unit_economics,
        team_drivers=[{"team": t, "driver": d} for t, d in config.team_drivers],
        default_driver=config.default_driver,
    )
    text = sqlparts.compose(ctes, load_sql("efficiency_kpis/efficiency_kpis"))
    return sqlparts.relation(con, text, params)
