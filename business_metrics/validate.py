"""Validate loaded business-metrics files: GX suites on the rows, DuckDB SQL for keys and missing days.

The files are small (one row per team, product and day), so GX checks the rows themselves as a
pandas frame indexed by ``source_row``: every failure names the CSV line (or Parquet row) and
the column. Duplicate keys and missing days compare rows with each other or with a calendar, so
they are SQL. Only the rows of the requested billing periods are checked (plus rows whose
period is empty, which belong to none and must fail), so an old month with a retired team name
does not block this month.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager

import duckdb
import pandas as pd

from business_metrics.formats import BUDGETS, BUDGETS_KEY, METRICS_DAILY, METRICS_DAILY_KEY, Field
from business_metrics.load import ROW_COLUMN, row_label
from expectations import sql_checks
from expectations.adapter import SAMPLE, ExpectationOutcome, SuiteResult, combine, run_suite, show
from expectations.sources import quote, sql_name, unique_name
from transforms import periods as billing_periods

# An AWS product code (AmazonEC2, AWSLambda, awskms, a Marketplace code): no spaces, so a
# service *name* ("Amazon Elastic Compute Cloud") is caught.
SERVICE_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


def validate_metrics_daily(
    con: duckdb.DuckDBPyConnection,
    rel: duckdb.DuckDBPyRelation,
    source: str,
    known_teams: Collection[str],
    known_products: Collection[str],
    currency: str,
    periods: Sequence[str],
) -> SuiteResult:
    """Known teams and products, no negative or missing values, one currency, unique keys, no missing day.

    Every known team must have at least one row on every day of ``periods``.
    """
    import great_expectations as gx

    periods = [billing_periods.validate(p) for p in periods]
    suite = [
        *_common(METRICS_DAILY, known_teams, currency),
        gx.expectations.ExpectColumnValuesToBeInSet(column="product", value_set=sorted(known_products), description="known product"),
    ]
    scope = "date IS NULL OR list_contains($periods, strftime(date, '%Y-%m'))"
    with _scoped(con, rel, scope, {"periods": periods}) as scoped:
        rows = run_suite(suite, _frame(con, scoped, source), f"{source} rows")
        label = row_label(source)
        duplicates = sql_checks.no_duplicate_keys(con, scoped, METRICS_DAILY_KEY, row_column=ROW_COLUMN, row_label=label)
        missing = missing_days(con, scoped, known_teams, periods)
    return combine(f"business metrics {source} ({', '.join(periods)})", rows, duplicates, missing)


def validate_budgets(
    con: duckdb.DuckDBPyConnection,
    rel: duckdb.DuckDBPyRelation,
    source: str,
    known_teams: Collection[str],
    currency: str,
    periods: Sequence[str],
) -> SuiteResult:
    """Known teams, product codes that look like codes, no negative or missing budget, one currency, unique keys.

    The key is (billing_period, team, service_code); an empty service_code is the team-wide
    budget, so two team-wide budgets for one team and month are duplicates too.
    """
    import great_expectations as gx

    periods = [billing_periods.validate(p) for p in periods]
    suite = [
        *_common(BUDGETS, known_teams, currency),
        gx.expectations.ExpectColumnValuesToMatchRegex(
            column="service_code", regex=SERVICE_CODE, description="an AWS product code such as AmazonEC2, or empty"
        ),
    ]
    scope = "billing_period IS NULL OR list_contains($periods, billing_period)"
    with _scoped(con, rel, scope, {"periods": periods}) as scoped:
        rows = run_suite(suite, _frame(con, scoped, source), f"{source} rows")
        duplicates = sql_checks.no_duplicate_keys(
            con, scoped, BUDGETS_KEY, row_column=ROW_COLUMN, row_label=row_label(source)
        )
    return combine(f"budgets {source} ({', '.join(periods)})", rows, duplicates)


def missing_days(
    con: duckdb.DuckDBPyConnection, table: str, known_teams: Collection[str], periods: Sequence[str]
) -> ExpectationOutcome:
    """Every team of ``known_teams`` has a row on every day of ``periods`` in ``table``."""
    days = [d for p in periods for d in billing_periods.days(p)]
    missing = (
        "FROM (SELECT unnest($teams::VARCHAR[]) AS team) t CROSS JOIN (SELECT unnest($days::DATE[]) AS date) d "
        f"WHERE NOT EXISTS (SELECT 1 FROM {quote(table)} m WHERE m.team = t.team AND m.date = d.date)"
    )
    params = {"teams": sorted(known_teams), "days": days}
    ((count,),) = con.execute(f"SELECT count(*) {missing}", params).fetchall()
    sample = con.execute(f"SELECT t.team, d.date {missing} ORDER BY t.team, d.date LIMIT $limit", {**params, "limit": SAMPLE}).fetchall()
    if count:
        shown = ", ".join(f"team {show(team)} on {day.isoformat()}" for team, day in sample)
        message = f"missing_days, column 'date': {count} (team, date) pair{'s' if count > 1 else ''} with no row: {shown}"
        message += " ..." if count > len(sample) else ""
    else:
        message = f"missing_days, column 'date': every team has a row on each of the {len(days)} days"
    details = {"message": message, "missing": [{"team": team, "date": day.isoformat()} for team, day in sample]}
    return ExpectationOutcome("missing_days", "date", count == 0, count, details)


def _common(fields: Sequence[Field], known_teams: Collection[str], currency: str) -> list:
    """Expectations both files share: required values, known team, non-negative amounts, one currency."""
    import great_expectations as gx

    return [
        *(
            gx.expectations.ExpectColumnValuesToNotBeNull(column=f.name, description="required value")
            for f in fields
            if f.required
        ),
        gx.expectations.ExpectColumnValuesToBeInSet(column="team", value_set=sorted(known_teams), description="known team"),
        *(
            gx.expectations.ExpectColumnValuesToBeBetween(column=f.name, min_value=0, description="not negative")
            for f in fields
            if f.non_negative
        ),
        gx.expectations.ExpectColumnValuesToBeInSet(column="currency", value_set=[currency], description=f"billing currency {currency}"),
    ]


@contextmanager
def _scoped(con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, where: str, params: dict) -> Iterator[str]:
    """A temporary table of the rows of ``rel`` matching ``where`` (bound ``params``), dropped on exit."""
    name = unique_name("curlake_validate_scope")
    with sql_name(con, rel) as source:
        con.execute(f"CREATE TEMP TABLE {quote(name)} AS SELECT * FROM {source} WHERE {where}", params)
    try:
        yield name
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote(name)}")


def _frame(con: duckdb.DuckDBPyConnection, table: str, source: str) -> pd.DataFrame:
    """The rows as pandas, indexed by their line (CSV) or row (Parquet) so failures name them."""
    frame = con.table(table).df().set_index(ROW_COLUMN).sort_index()
    frame.index.name = row_label(source)
    return frame
