"""Small pandas frames that DuckDB computes from a table of any size, for GX suites to check.

A month of cost line items can hold 100M rows: GX never sees them. DuckDB reduces the table to a
few hundred rows (its schema, the distinct values of a column, null counts, totals) and GX checks
those. Values are never formatted into SQL; column names are quoted identifiers.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pandas as pd

from expectations.sources import TableOrRelation, quote, sql_name


def schema_frame(con: duckdb.DuckDBPyConnection, source: TableOrRelation) -> pd.DataFrame:
    """One row per column of ``source``: ``column``, ``type`` (DuckDB type name, e.g. DECIMAL(18,10))."""
    with sql_name(con, source) as name:
        rows = con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()
    return pd.DataFrame({"column": [r[0] for r in rows], "type": [r[1] for r in rows]})


def categorical_frame(con: duckdb.DuckDBPyConnection, source: TableOrRelation, column: str) -> pd.DataFrame:
    """Each distinct value of ``column`` (NULL included) with its row count: ``value``, ``rows``."""
    with sql_name(con, source) as name:
        frame = con.execute(
            f"SELECT {quote(column)} AS value, count(*) AS rows FROM {name} GROUP BY ALL ORDER BY rows DESC, value"
        ).df()
    return frame


def null_count_frame(
    con: duckdb.DuckDBPyConnection, source: TableOrRelation, columns: Sequence[str]
) -> pd.DataFrame:
    """Nulls per column in one scan: ``column``, ``nulls`` (one row per requested column)."""
    if not columns:
        return pd.DataFrame({"column": pd.Series([], dtype=object), "nulls": pd.Series([], dtype="int64")})
    # count(*) - count(c), not a FILTER per column: DuckDB answers count(c) from the validity
    # statistics of a table (milliseconds for 20M rows, against seconds for the filter form).
    counts = ", ".join(f"count(*) - count({quote(c)})" for c in columns)
    with sql_name(con, source) as name:
        values = con.execute(f"SELECT {counts} FROM {name}").fetchall()[0]
    return pd.DataFrame({"column": list(columns), "nulls": [int(v) for v in values]})


def totals_frame(
    con: duckdb.DuckDBPyConnection, source: TableOrRelation, columns: Sequence[str] = ()
) -> pd.DataFrame:
    """One row: ``rows`` (the row count) and the exact sum of each of ``columns`` (Decimal for DECIMAL columns).

    Sums are fetched as Python values (not through pandas' float conversion), so a DECIMAL total
    stays exact to the last digit.
    """
    sums = "".join(f", sum({quote(c)})" for c in columns)
    with sql_name(con, source) as name:
        values = con.execute(f"SELECT count(*){sums} FROM {name}").fetchall()[0]
    return pd.DataFrame([dict(zip(["rows", *columns], values, strict=True))], dtype=object)
