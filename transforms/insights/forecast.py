"""`budget_variance` and `forecast_accuracy`: budgets against actuals and a weekday-aware month-end forecast.

The forecast (sql/budget_variance/forecast.sql, documented in docs/unit_economics.md) is the
actual to date plus, for each remaining day, a de-seasonalized daily run rate times that day's
weekday factor. It reads only days up to its ``as_of``, so running it "as of day 7" of a closed
month reproduces what it said on day 7: that is how `forecast_accuracy` measures it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import duckdb

from transforms import periods
from transforms.insights import inputs, sqlfiles

CHECKPOINTS: tuple[int, ...] = (7, 14, 21, 28)

# Method constants (docs/unit_economics.md): four weeks of weekday shape, one week of level, and
# no weekday shape before two of each weekday have been seen.
HISTORY_DAYS = 28
LEVEL_DAYS = 7
MIN_WEEKDAY_DAYS = 14


def _validate_inputs(
    con: duckdb.DuckDBPyConnection, billing_period: str, team_cost_daily: str, budgets: str, currency: str
) -> date | None:
    """Check both inputs; return the last day with cost in ``billing_period`` (None if there is none)."""
    periods.validate(billing_period)
    inputs.require_columns(con, "team_cost_daily", team_cost_daily, inputs.TEAM_COST_DAILY)
    inputs.require_columns(con, "budgets", budgets, inputs.BUDGETS)
    read = [inputs.previous_period(billing_period), billing_period]
    inputs.check_period_matches_date(con, "team_cost_daily", team_cost_daily, "usage_date", read)
    inputs.fail_on_rows(
        con,
        "SELECT usage_date, team, service_code FROM query_table($name) "
        "WHERE billing_period IN (SELECT unnest($periods::VARCHAR[])) "
        "AND (team IS NULL OR direct_cost IS NULL OR shared_cost IS NULL) ORDER BY ALL",
        {"name": team_cost_daily, "periods": read},
        f"team_cost_daily ({team_cost_daily!r}): null team, direct_cost or shared_cost",
    )
    inputs.check_currency(con, "budgets", budgets, currency, [billing_period])
    inputs.fail_on_rows(
        con,
        "SELECT team, service_code, count(*) AS rows FROM query_table($name) WHERE billing_period = $period "
        "GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL",
        {"name": budgets, "period": billing_period},
        f"budgets ({budgets!r}): more than one budget per (billing_period, team, service_code)",
    )
    inputs.fail_on_rows(
        con,
        "SELECT team, service_code, budget FROM query_table($name) WHERE billing_period = $period "
        "AND (team IS NULL OR budget IS NULL OR budget < 0 OR service_code = '') ORDER BY ALL",
        {"name": budgets, "period": billing_period},
        f"budgets ({budgets!r}): null team or budget, negative budget, or empty service_code "
        f"(a team-wide budget has service_code NULL)",
    )
    return con.execute(
        "SELECT max(usage_date) FROM query_table($name) WHERE billing_period = $period",
        {"name": team_cost_daily, "period": billing_period},
    ).fetchall()[0][0]


def _forecast_params(
    billing_period: str, as_of_dates: Sequence[date], team_cost_daily: str, budgets: str, currency: str
) -> dict[str, object]:
    """Parameters of sql/budget_variance/ (a superset: each query binds the ones it uses)."""
    month_start, month_end = inputs.period_bounds(billing_period)
    return {
        "team_cost_daily": team_cost_daily,
        "budgets": budgets,
        "billing_period": billing_period,
        "previous_period": inputs.previous_period(billing_period),
        "month_start": month_start,
        "month_end": month_end,
        "days_in_month": periods.days_in(billing_period),
        "as_of_dates": list(as_of_dates),
        "history_days": HISTORY_DAYS,
        "level_days": LEVEL_DAYS,
        "min_weekday_days": MIN_WEEKDAY_DAYS,
        "currency": currency,
    }


def build_budget_variance(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    as_of: date | None = None,
    team_cost_daily: str = "team_cost_daily",
    budgets: str = "budgets",
    *,
    currency: str = "USD",
    at_risk_ratio: float = 1.0,
) -> duckdb.DuckDBPyRelation:
    """`budget_variance` of ``billing_period`` as of ``as_of``: one row per team, plus one per service budget.

    ``as_of`` is the last complete day of cost: None takes the last day with cost in the period
    (pass the last *complete* day explicitly if the latest delivery holds a partial day); a date
    after the month is the month end. A date after the last day with cost is refused, since the
    missing days would count as zero cost. Teams without a budget get status 'no_budget', so
    the team rows add up to the whole allocated cost.
    """
    last_day = _validate_inputs(con, billing_period, team_cost_daily, budgets, currency)
    month_start, month_end = inputs.period_bounds(billing_period)
    if last_day is None:
        raise inputs.InputError(f"team_cost_daily ({team_cost_daily!r}): no cost for billing period {billing_period}")
    if as_of is None:
        as_of = last_day
    as_of = min(as_of, month_end)
    if as_of < month_start:
        raise inputs.InputError(f"as_of {as_of} is before billing period {billing_period}")
    if as_of > last_day:
        raise inputs.InputError(
            f"as_of {as_of} is after the last day with cost in team_cost_daily ({team_cost_daily!r}) "
            f"for {billing_period}: {last_day}"
        )
    if at_risk_ratio <= 0:
        raise ValueError(f"at_risk_ratio must be positive, got {at_risk_ratio}")
    params = _forecast_params(billing_period, [as_of], team_cost_daily, budgets, currency)
    params |= {"as_of": as_of, "at_risk_ratio": at_risk_ratio}
    return sqlfiles.query(
        con, "budget_variance/budget_variance", params, ctes={"forecast": "budget_variance/forecast"}
    )


def build_forecast_accuracy(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    team_cost_daily: str = "team_cost_daily",
    budgets: str = "budgets",
    *,
    checkpoints: Sequence[int] = CHECKPOINTS,
    currency: str = "USD",
    require_closed: bool = True,
) -> duckdb.DuckDBPyRelation:
    """`forecast_accuracy` of a closed month: the forecast as of each checkpoint day against the final actual.

    One row per team (and service budget) and checkpoint; checkpoints on or after the last day
    of the month are left out (the forecast there is the actual). The month must be complete in
    ``team_cost_daily`` (cost on its last day), else InputError; with ``require_closed=False``
    an open month gives no rows instead (the pipeline's choice: accuracy is recorded at close).
    """
    last_day = _validate_inputs(con, billing_period, team_cost_daily, budgets, currency)
    month_start, month_end = inputs.period_bounds(billing_period)
    still_open = last_day != month_end
    if still_open and require_closed:
        raise inputs.InputError(
            f"billing period {billing_period} is not closed: team_cost_daily ({team_cost_daily!r}) has cost "
            f"up to {last_day or 'no day'}, the month ends {month_end}"
        )
    bad = [c for c in checkpoints if not isinstance(c, int) or c < 1]
    if bad:
        raise ValueError(f"checkpoints must be days of the month (1, 2, ...), got {bad}")
    dates = [month_start + timedelta(days=c - 1) for c in sorted(set(checkpoints)) if c < periods.days_in(billing_period)]
    params = _forecast_params(billing_period, [*dates, month_end], team_cost_daily, budgets, currency)
    rel = sqlfiles.query(
        con, "budget_variance/forecast_accuracy", params, ctes={"forecast": "budget_variance/forecast"}
    )
    return rel.filter("false") if still_open else rel


def check_budget_variance(
    con: duckdb.DuckDBPyConnection,
    budget_variance: str,
    billing_period: str,
    team_cost_daily: str = "team_cost_daily",
) -> list[str]:
    """Blocking gate: budget actuals equal allocated cost per team (and service) and month to date (empty = pass).

    Also: one as_of and one row per team and service; a complete month's forecast is its actual.
    """
    periods.validate(billing_period)
    inputs.relation_name("budget_variance", budget_variance)
    month_start, month_end = inputs.period_bounds(billing_period)
    rel = sqlfiles.query(
        con,
        "budget_variance/check",
        {
            "budget_variance": budget_variance,
            "team_cost_daily": team_cost_daily,
            "billing_period": billing_period,
            "month_start": month_start,
            "month_end": month_end,
        },
    )
    return [
        f"budget_variance {billing_period}: {check}: team={team!r} service_code={service!r}: expected {expected}, got {actual}"
        for check, team, service, expected, actual in rel.fetchall()
    ]
