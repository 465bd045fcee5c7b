"""`unit_economics`: what each team and product costs per order, per active user and per unit of revenue.

Per day and per month, per team and product: allocated cost (direct plus shared, in the cost
basis of ``team_cost_daily``), revenue, orders, active users, the unit costs, cloud cost as a
share of revenue, gross margin after cloud cost, and the change against the previous day/month.
The previous period is read from the same input relations, so one billing period is built at a
time. Definitions and edge cases: docs/unit_economics.md; SQL: sql/unit_economics/.
"""

from __future__ import annotations

import duckdb

from transforms import periods
from transforms.insights import inputs, sqlfiles

UNALLOCATED_TEAM = "unallocated"


def _validate_inputs(
    con: duckdb.DuckDBPyConnection, billing_period: str, team_cost_daily: str, metrics: str, currency: str
) -> list[str]:
    """Check the inputs of the two periods read; return them [previous, current]."""
    periods.validate(billing_period)
    read = [inputs.previous_period(billing_period), billing_period]
    inputs.require_columns(con, "team_cost_daily", team_cost_daily, inputs.TEAM_COST_DAILY)
    inputs.require_columns(con, "business_metrics_daily", metrics, inputs.BUSINESS_METRICS_DAILY)
    inputs.check_period_matches_date(con, "team_cost_daily", team_cost_daily, "usage_date", read)
    inputs.check_period_matches_date(con, "business_metrics_daily", metrics, "date", read)
    inputs.check_currency(con, "business_metrics_daily", metrics, currency, read)
    inputs.fail_on_rows(
        con,
        "SELECT usage_date, team, product, usage_account_id, service_code FROM query_table($name) "
        "WHERE billing_period IN (SELECT unnest($periods::VARCHAR[])) "
        "AND (team IS NULL OR direct_cost IS NULL OR shared_cost IS NULL) ORDER BY ALL",
        {"name": team_cost_daily, "periods": read},
        f"team_cost_daily ({team_cost_daily!r}): null team, direct_cost or shared_cost "
        f"(cost without an owner belongs to team {UNALLOCATED_TEAM!r})",
    )
    inputs.fail_on_rows(
        con,
        'SELECT "date", team, product, count(*) AS rows FROM query_table($name) '
        "WHERE billing_period IN (SELECT unnest($periods::VARCHAR[])) "
        "GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL",
        {"name": metrics, "periods": read},
        f"business_metrics_daily ({metrics!r}): more than one row per (date, team, product)",
    )
    inputs.fail_on_rows(
        con,
        'SELECT "date", team, product, revenue, orders, active_users FROM query_table($name) '
        "WHERE billing_period IN (SELECT unnest($periods::VARCHAR[])) "
        "AND (team IS NULL OR orders < 0 OR active_users < 0) ORDER BY ALL",
        {"name": metrics, "periods": read},
        f"business_metrics_daily ({metrics!r}): null team, or negative orders or active_users",
    )
    return read


def build_unit_economics(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    team_cost_daily: str = "team_cost_daily",
    metrics: str = "business_metrics_daily",
    *,
    currency: str = "USD",
    unallocated_team: str = UNALLOCATED_TEAM,
) -> duckdb.DuckDBPyRelation:
    """The `unit_economics` rows of ``billing_period``: grain 'day' (one row per day, team, product) and 'month'.

    ``team_cost_daily`` and ``metrics`` are relation names; the previous billing period is read from
    them too, for the change columns. Inputs are validated first (columns, types, currency,
    duplicate metric rows) and InputError names the relation, column and rows at fault.
    The relation is lazy: create a table from it or write it out; nothing is computed in Python.
    """
    read = _validate_inputs(con, billing_period, team_cost_daily, metrics, currency)
    return sqlfiles.query(
        con,
        "unit_economics/unit_economics",
        {
            "team_cost_daily": team_cost_daily,
            "metrics": metrics,
            "billing_period": billing_period,
            "previous_period": read[0],
            "unallocated_team": unallocated_team,
            "currency": currency,
        },
    )


def check_unit_economics(
    con: duckdb.DuckDBPyConnection,
    unit_economics: str,
    billing_period: str,
    team_cost_daily: str = "team_cost_daily",
    metrics: str = "business_metrics_daily",
    *,
    unallocated_team: str = UNALLOCATED_TEAM,
) -> list[str]:
    """Blocking gate: failures of the built ``unit_economics`` table against its inputs (empty list = pass).

    Per team and grain, allocated cost must reconcile with ``team_cost_daily`` (the allocation)
    and revenue and orders with ``metrics``, to the cent (rounding of the output rows aside);
    rows are unique; every ratio is finite, and null exactly when it carries a null reason.
    """
    periods.validate(billing_period)
    inputs.relation_name("unit_economics", unit_economics)
    rel = sqlfiles.query(
        con,
        "unit_economics/check",
        {
            "unit_economics": unit_economics,
            "team_cost_daily": team_cost_daily,
            "metrics": metrics,
            "billing_period": billing_period,
            "unallocated_team": unallocated_team,
        },
    )
    return [
        f"unit_economics {billing_period}: {check}: grain={grain} team={team!r}"
        + (f" period_start={start}" if start is not None else "")
        + (f" product={product!r}" if product is not None else "")
        + f": expected {expected}, got {actual}"
        for check, grain, team, start, product, expected, actual in rel.fetchall()
    ]
