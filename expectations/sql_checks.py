"""Volume, sum and uniqueness checks, evaluated by DuckDB over the whole table.

These need every row (a sum, a GROUP BY over the key), so they run where the data is, in SQL,
and report `ExpectationOutcome`s like the GX suites do, to be combined into one `SuiteResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import duckdb

from expectations.adapter import SAMPLE, ExpectationOutcome, plain, show
from expectations.sources import TableOrRelation, quote, sql_name


def row_count_positive(con: duckdb.DuckDBPyConnection, source: TableOrRelation) -> ExpectationOutcome:
    """The table is not empty (an empty delivery or a filter that matched nothing)."""
    with sql_name(con, source) as name:
        (rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0]
    success = rows > 0
    message = "row_count_positive: " + (f"{rows} rows" if success else "the table has no rows")
    return ExpectationOutcome("row_count_positive", None, success, rows, {"message": message})


def sum_equals(
    con: duckdb.DuckDBPyConnection,
    source: TableOrRelation,
    column: str,
    expected: Decimal | int | str,
    tolerance: Decimal | int | str = Decimal("0"),
) -> ExpectationOutcome:
    """sum(``column``) is within ``tolerance`` of ``expected``, compared as exact decimals.

    DuckDB sums DECIMAL columns exactly; floats are compared through their shortest repr, so a
    DOUBLE column is only as exact as its sum.
    """
    expected_d, tolerance_d = Decimal(str(expected)), Decimal(str(tolerance))
    with sql_name(con, source) as name:
        (total,) = con.execute(f"SELECT coalesce(sum({quote(column)}), 0) FROM {name}").fetchall()[0]
    total_d = Decimal(str(total))
    difference = total_d - expected_d
    success = abs(difference) <= tolerance_d
    message = (
        f"sum_equals, column {column!r}: sum is {total_d}, expected {expected_d} "
        f"(difference {difference}, tolerance {tolerance_d})"
    )
    details = {
        "message": message,
        "expected": str(expected_d),
        "difference": str(difference),
        "tolerance": str(tolerance_d),
    }
    return ExpectationOutcome("sum_equals", column, success, total_d, details)


def no_duplicate_keys(
    con: duckdb.DuckDBPyConnection,
    source: TableOrRelation,
    keys: Sequence[str],
    *,
    row_column: str | None = None,
    row_label: str = "row",
) -> ExpectationOutcome:
    """No two rows share a value of ``keys`` (NULLs compare equal, as in a GROUP BY).

    ``observed`` is the number of duplicated key values; details list the first few with their
    counts and, if ``row_column`` names a column holding row positions (e.g. CSV line numbers),
    where they occur.
    """
    if not keys:
        raise ValueError("no_duplicate_keys needs at least one key column")
    key_sql = ", ".join(quote(k) for k in keys)
    rows_sql = f", list({quote(row_column)} ORDER BY {quote(row_column)})" if row_column else ""
    order_sql = f"min({quote(row_column)}), {key_sql}" if row_column else key_sql
    with sql_name(con, source) as name:
        # First pass over one 64-bit hash per row, not the key values (10M text keys: 15 CPU s
        # -> a third of that): rows sharing a key share its hash, so no repeated hash means no
        # duplicate. Only if some hash repeats are the rows with those hashes grouped exactly
        # (a collision of distinct keys is not a duplicate).
        hashed = f"SELECT hash({key_sql}) AS curlake_key_hash FROM {name} GROUP BY 1 HAVING count(*) > 1"
        ((repeated,),) = con.execute(f"SELECT count(*) FROM ({hashed})").fetchall()
        duplicated, sample = 0, []
        if repeated:
            narrowed = f"(SELECT * FROM {name} WHERE hash({key_sql}) IN ({hashed}))"
            ((duplicated,),) = con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {narrowed} GROUP BY {key_sql} HAVING count(*) > 1)"
            ).fetchall()
            sample = con.execute(
                f"SELECT {key_sql}, count(*) AS n{rows_sql} FROM {narrowed} GROUP BY {key_sql} HAVING count(*) > 1 "
                f"ORDER BY {order_sql} LIMIT $limit",
                {"limit": SAMPLE},
            ).fetchall()
    column = ", ".join(keys)
    duplicates = []
    for record in sample:
        item = {"key": dict(zip(keys, plain(list(record[: len(keys)])), strict=True)), "count": record[len(keys)]}
        if row_column:
            item[f"{row_label}s"] = plain(record[len(keys) + 1])
        duplicates.append(item)
    if duplicated == 0:
        message = f"no_duplicate_keys, columns ({column}): every key is unique"
    else:
        shown = "; ".join(_describe(d, keys, row_label) for d in duplicates)
        message = f"no_duplicate_keys, columns ({column}): {duplicated} duplicated key(s): {shown}"
        if duplicated > len(duplicates):
            message += " ..."
    details = {"message": message, "duplicates": duplicates}
    return ExpectationOutcome("no_duplicate_keys", column, duplicated == 0, duplicated, details)


def _describe(duplicate: dict, keys: Sequence[str], row_label: str) -> str:
    key = ", ".join(f"{k}={show(duplicate['key'][k])}" for k in keys)
    text = f"({key}) {duplicate['count']} times"
    rows = duplicate.get(f"{row_label}s")
    if rows:
        text += f" at {row_label}s {', '.join(str(r) for r in rows)}"
    return text
