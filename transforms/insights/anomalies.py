"""`cost_anomalies`: daily cost increases per owner x service x account that recent history does not explain.

Each series' expected cost for a day is either the median of the same weekday over the preceding
four weeks or the median of the preceding four weeks, whichever predicted the series better
lately; its scale is the median absolute error of that expectation over the preceding four weeks
(x 1.4826, a robust standard deviation). A day is anomalous when its excess over expectation
clears the robust threshold, a minimum relative increase and a minimum absolute impact, or when
two consecutive days do together. Consecutive anomalous days make one anomaly. Method and its
measured quality: docs/unit_economics.md, bench/anomaly_eval.py.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

import duckdb

from transforms import periods
from transforms.insights import inputs, sqlfiles

SHARED_OWNER = "(shared)"

BASELINE_WEEKS = 4
# A series is judged only once it has two same-weekday values and a week of errors behind it.
MIN_BASELINE_WEEKS = 2
MIN_ERROR_DAYS = 7
# How far back an anomaly still running at the start of the period is traced to its first day.
TRACE_BACK_DAYS = 28


def build_cost_anomalies(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    team_cost_daily: str = "team_cost_daily",
    line_item_costs: str = "line_item_costs",
    *,
    min_impact: Decimal = Decimal("50"),
    threshold: float = 5.5,
    min_relative: float = 0.2,
    by_account: bool = True,
    cost_basis: Literal["direct", "allocated"] = "direct",
    top_n: int = 5,
) -> duckdb.DuckDBPyRelation:
    """`cost_anomalies` with a day in ``billing_period``: one row per anomaly, with its top resources.

    Days before the period are read from the same relations (baseline and errors need eight
    weeks, and an anomaly running into the period is traced back up to four weeks to its start).
    ``min_impact`` is the least excess over expectation (money per day, or per two days for the
    two-day rule) worth reporting; ``threshold`` the least excess in robust standard deviations;
    ``min_relative`` the least excess as a fraction of the expected cost.
    ``cost_basis='direct'`` judges each team on its direct cost and the shared part as series of
    its own (owner ``(shared)``), so that one shared spike is one anomaly, not one per team;
    ``'allocated'`` judges direct plus shared cost per team.

    The anomalies are found twice: once here, at once (sql/cost_anomalies/events.sql reads only
    ``team_cost_daily``), for the services and accounts whose line items can be behind one, and
    again inside the returned lazy relation, which reads only those line items.
    """
    periods.validate(billing_period)
    inputs.require_columns(con, "team_cost_daily", team_cost_daily, inputs.TEAM_COST_DAILY)
    inputs.require_columns(con, "line_item_costs", line_item_costs, inputs.LINE_ITEM_COSTS)
    if cost_basis not in ("direct", "allocated"):
        raise ValueError(f"cost_basis must be 'direct' or 'allocated', got {cost_basis!r}")
    if min_impact < 0 or threshold < 0 or min_relative < 0:
        raise ValueError("min_impact, threshold and min_relative must not be negative")
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    period_start, period_end = inputs.period_bounds(billing_period)
    baseline_days = 7 * BASELINE_WEEKS
    flag_start = period_start - timedelta(days=TRACE_BACK_DAYS)
    # Errors on flag_start need the baseline of the days before them, which needs its own weeks.
    history_start = flag_start - timedelta(days=2 * baseline_days)
    inputs.fail_on_rows(
        con,
        "SELECT usage_date, team, service_code, usage_account_id FROM query_table($name) "
        "WHERE usage_date BETWEEN $start AND $end "
        "AND (team IS NULL OR direct_cost IS NULL OR shared_cost IS NULL) ORDER BY ALL",
        {"name": team_cost_daily, "start": history_start, "end": period_end},
        f"team_cost_daily ({team_cost_daily!r}): null team, direct_cost or shared_cost",
    )
    params = {
        "team_cost_daily": team_cost_daily,
        "line_item_costs": line_item_costs,
        "billing_period": billing_period,
        "history_start": history_start,
        "flag_start": flag_start,
        "period_start": period_start,
        "period_end": period_end,
        "by_account": by_account,
        "split_shared": cost_basis == "direct",
        "shared_owner": SHARED_OWNER,
        "baseline_weeks": BASELINE_WEEKS,
        "baseline_days": baseline_days,
        "min_baseline_weeks": MIN_BASELINE_WEEKS,
        "min_error_days": MIN_ERROR_DAYS,
        "threshold": float(threshold),
        "min_impact": Decimal(min_impact),
        "min_relative": float(min_relative),
        "top_n": top_n,
    }
    # The anomalies first, alone (they read only team_cost_daily): the services and accounts behind
    # them bound as lists let the resources query skip every other line item before it works out
    # owners, the cost of this table (a month of 10M line items has a few dozen anomalies).
    events = sqlfiles.query(con, "cost_anomalies/events", params)
    services, accounts = events.query(
        "e", "SELECT coalesce(list(DISTINCT service_code), []), coalesce(list(DISTINCT usage_account_id), []) FROM e"
    ).fetchall()[0]
    params.update(event_services=services, event_accounts=accounts)
    return sqlfiles.query(con, "cost_anomalies/cost_anomalies", params, ctes={"reported": "cost_anomalies/events"})
