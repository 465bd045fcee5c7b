"""The curated tables `business_metrics_daily` and `budgets`, built only from files that passed their gate.

`build_metrics_daily` / `build_budgets` are the whole path: load (typed, or FileFormatError),
validate, and raise `SuiteFailed` before any table exists if a check failed, so nothing
downstream can read bad business metrics. The SQL of each table is in ``sql/<table>.sql``,
run through `transforms.sqlrunner`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence

import duckdb

from business_metrics.load import load_budgets, load_metrics_daily
from business_metrics.validate import validate_budgets, validate_metrics_daily
from expectations.adapter import SuiteResult
from expectations.sources import unique_name
from transforms import periods as billing_periods
from transforms import sqlrunner

# The relation-name parameter each table's SQL reads its input from.
_INPUT = {"business_metrics_daily": "metrics_daily", "budgets": "budgets"}


def create_table(
    con: duckdb.DuckDBPyConnection,
    rel: duckdb.DuckDBPyRelation,
    sql_name: str,
    periods: Sequence[str],
    table: str,
) -> duckdb.DuckDBPyRelation:
    """Create (or replace) ``table`` from ``sql/<sql_name>.sql`` over the rows of ``rel`` in ``periods``.

    ``rel`` is registered under a unique name for the statement and bound to the SQL as a
    relation name ($metrics_daily or $budgets), the way every curated table's SQL takes its input.
    """
    periods = [billing_periods.validate(p) for p in periods]
    source = unique_name(f"curlake_{sql_name}_source")
    con.register(source, rel)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {sqlrunner.quote_identifier(table)} AS {sqlrunner.load_sql(sql_name)}",
            {_INPUT[sql_name]: source, "periods": periods},
        )
    finally:
        con.unregister(source)
    return con.table(table)


def metrics_daily_table(
    con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, periods: Sequence[str], table: str = "business_metrics_daily"
) -> duckdb.DuckDBPyRelation:
    return create_table(con, rel, "business_metrics_daily", periods, table)


def budgets_table(
    con: duckdb.DuckDBPyConnection, rel: duckdb.DuckDBPyRelation, periods: Sequence[str], table: str = "budgets"
) -> duckdb.DuckDBPyRelation:
    return create_table(con, rel, "budgets", periods, table)


def build_metrics_daily(
    con: duckdb.DuckDBPyConnection,
    path_or_url: str | os.PathLike,
    *,
    known_teams: Collection[str],
    known_products: Collection[str],
    currency: str,
    periods: Sequence[str],
    table: str = "business_metrics_daily",
) -> tuple[duckdb.DuckDBPyRelation, SuiteResult]:
    """Load, gate and materialize ``business_metrics_daily`` for ``periods``; raises SuiteFailed on a failed check."""
    source = str(path_or_url)
    rel = load_metrics_daily(con, source)
    result = validate_metrics_daily(con, rel, source, known_teams, known_products, currency, periods)
    result.raise_if_failed()
    return metrics_daily_table(con, rel, periods, table), result


def build_budgets(
    con: duckdb.DuckDBPyConnection,
    path_or_url: str | os.PathLike,
    *,
    known_teams: Collection[str],
    currency: str,
    periods: Sequence[str],
    table: str = "budgets",
) -> tuple[duckdb.DuckDBPyRelation, SuiteResult]:
    """Load, gate and materialize ``budgets`` for ``periods``; raises SuiteFailed on a failed check."""
    source = str(path_or_url)
    rel = load_budgets(con, source)
    result = validate_budgets(con, rel, source, known_teams, currency, periods)
    result.raise_if_failed()
    return budgets_table(con, rel, periods, table), result
