"""Load business-metrics files (CSV or Parquet, local or s3://) into typed DuckDB tables.

Every value is read as text first and then parsed with explicit types, so a bad value is reported
with its file, line and column instead of failing a whole scan (or, worse, being rounded: a
DuckDB cast turns '1.5' into the integer 2 and '10.005' into the DECIMAL(18,2) 10.01; both are
rejected here). Rows keep their position in the file in ``source_row``: the line number for CSV
(header = line 1, first record = line 2), the 1-based row number for Parquet.

s3:// is read through the s3fs filesystem that `transforms.duck.connect` registers.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb

from business_metrics.formats import BUDGETS, METRICS_DAILY, Field
from expectations.sources import quote, unique_name
from transforms import storage

ROW_COLUMN = "source_row"
# Unparsable values listed in an error (the total is always given).
SHOWN_ERRORS = 10


class FileFormatError(ValueError):
    """A business-metrics file that cannot be read as its format; the message names file, line and column."""


def load_metrics_daily(con: duckdb.DuckDBPyConnection, path_or_url: str | os.PathLike) -> duckdb.DuckDBPyRelation:
    """``metrics_daily`` (docs/CONTRACTS.md) as a typed temporary table: source_row, then its columns."""
    return _load(con, str(path_or_url), METRICS_DAILY, "metrics_daily")


def load_budgets(con: duckdb.DuckDBPyConnection, path_or_url: str | os.PathLike) -> duckdb.DuckDBPyRelation:
    """``budgets`` (docs/CONTRACTS.md) as a typed temporary table; an empty service_code is NULL."""
    return _load(con, str(path_or_url), BUDGETS, "budgets")


def file_format(path_or_url: str) -> str:
    """'csv' or 'parquet', from the file name."""
    name = str(path_or_url).lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".parq")):
        return "parquet"
    raise FileFormatError(f"{path_or_url}: unsupported file type: expected a .csv or .parquet file")


def row_label(path_or_url: str) -> str:
    """What ``source_row`` counts: CSV lines (header included) or Parquet rows."""
    return "line" if file_format(path_or_url) == "csv" else "row"


def _load(con: duckdb.DuckDBPyConnection, path: str, fields: Sequence[Field], name: str) -> duckdb.DuckDBPyRelation:
    fmt = file_format(path)
    if not storage.filesystem(path).exists(path):
        raise FileFormatError(f"{path}: file not found")
    if fmt == "csv":
        found = _csv_header(path)
        # Positional names: whatever the header holds (duplicates, quotes), the SQL stays simple.
        positional = {f"c{i}": "VARCHAR" for i in range(len(found))}
        reader = (
            "read_csv($path, columns = $columns, header = true, auto_detect = false, "
            "delim = ',', quote = '\"', escape = '\"', strict_mode = true)"
        )
        params = {"path": path, "columns": positional}
        by_name = dict(zip(found, positional, strict=True))
    else:
        found = [row[0] for row in _execute(con, path, "DESCRIBE SELECT * FROM read_parquet($path)", {"path": path})]
        reader, params, by_name = "read_parquet($path)", {"path": path}, {c: c for c in found}
    actual = _match_columns(path, fmt, found, fields)
    text_columns = ", ".join(f"CAST({quote(by_name[actual[f.name]])} AS VARCHAR) AS {quote(f.name)}" for f in fields)
    raw = unique_name(f"curlake_{name}_raw")
    try:
        with _insertion_order_preserved(con):
            _execute(con, path, f"CREATE TEMP TABLE {quote(raw)} AS SELECT {text_columns} FROM {reader}", params)
        if fmt == "csv":
            _check_one_record_per_line(con, path, raw)
        first_row = 2 if fmt == "csv" else 1
        _check_values(con, path, raw, fields, first_row)
        typed = unique_name(f"curlake_{name}")
        values = ", ".join(f"{_parsed(f)} AS {quote(f.name)}" for f in fields)
        con.execute(
            f"CREATE TEMP TABLE {quote(typed)} AS SELECT rowid + $first AS {ROW_COLUMN}, {values} FROM {quote(raw)}",
            {"first": first_row},
        )
    finally:
        con.execute(f"DROP TABLE IF EXISTS {quote(raw)}")
    return con.table(typed)


def _csv_header(path: str) -> list[str]:
    """The column names on line 1 (a UTF-8 byte order mark is ignored)."""
    with storage.filesystem(path).open(path, "rb") as f:
        first = f.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: line 1 (header): not UTF-8 text ({exc})") from exc
    header = next(csv.reader([text]), [])
    if not any(h.strip() for h in header):
        raise FileFormatError(f"{path}: line 1 (header): empty; expected the column names")
    return header


def _execute(con: duckdb.DuckDBPyConnection, path: str, sql: str, params: dict) -> list[tuple]:
    """Run a query that reads ``path``; a reader error names the file (and DuckDB's line, for CSV)."""
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        # DuckDB's CSV errors are a paragraph: keep what went wrong and where, drop the advice.
        text = str(exc).split("\nPossible fixes")[0].replace("Invalid Input Error: ", "")
        raise FileFormatError(f"{path}: cannot be read: {'; '.join(t for t in text.splitlines() if t.strip())}") from exc


def _match_columns(path: str, fmt: str, found: list[str], fields: Sequence[Field]) -> dict[str, str]:
    """Map each field to the file's column of that name (case and surrounding spaces ignored)."""
    by_key: dict[str, list[str]] = {}
    for column in found:
        by_key.setdefault(column.strip().lower(), []).append(column)
    where = "line 1 (header)" if fmt == "csv" else "schema"
    missing = [f.name for f in fields if f.name not in by_key]
    if missing:
        names = ", ".join(repr(m) for m in missing)
        raise FileFormatError(
            f"{path}: {where}: missing column{'s' if len(missing) > 1 else ''} {names} "
            f"(columns found: {', '.join(found) or 'none'})"
        )
    ambiguous = [f.name for f in fields if len(by_key[f.name]) > 1]
    if ambiguous:
        raise FileFormatError(f"{path}: {where}: column {ambiguous[0]!r} appears more than once: {by_key[ambiguous[0]]}")
    return {f.name: by_key[f.name][0] for f in fields}


@contextmanager
def _insertion_order_preserved(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Keep file order while staging, so that rowid is the record's position in the file.

    `transforms.duck.connect` turns insertion order off (faster large scans); it is a
    database-wide setting, so the previous value is put back right after.
    """
    (previous,) = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0]
    con.execute("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        con.execute("SET preserve_insertion_order = true" if previous else "SET preserve_insertion_order = false")


def _check_one_record_per_line(con: duckdb.DuckDBPyConnection, path: str, raw: str) -> None:
    """Line numbers are record positions + 1 only if no record spans lines and no line is blank.

    DuckDB's CSV reader skips blank lines and accepts line breaks inside quoted values; either
    would make every reported line number after it wrong, so such files are refused.
    """
    ((lines,),) = _execute(
        con,
        path,
        "SELECT CASE WHEN t = '' THEN 0 ELSE length(t) - length(replace(t, chr(10), '')) + 1 END "
        "FROM (SELECT rtrim(content, chr(13) || chr(10) || chr(32) || chr(9)) AS t FROM read_text($path))",
        {"path": path},
    )
    ((records,),) = con.execute(f"SELECT count(*) FROM {quote(raw)}").fetchall()
    if lines != records + 1:
        raise FileFormatError(
            f"{path}: {lines} lines hold a header and {records} records: blank lines or line breaks inside "
            "quoted values make line numbers ambiguous; remove them (one record per line)"
        )


_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def _value(field: Field) -> str:
    return f"NULLIF(trim({quote(field.name)}), '')"


def _valid(field: Field) -> str | None:
    """SQL that is true when the field's (non-empty, trimmed) text parses exactly; None for text."""
    v = _value(field)
    if field.kind == "date":
        return rf"regexp_full_match({v}, '\d{{4}}-\d{{2}}-\d{{2}}') AND TRY_CAST({v} AS DATE) IS NOT NULL"
    if field.kind == "period":
        return rf"regexp_full_match({v}, '\d{{4}}-(0[1-9]|1[0-2])')"
    if field.kind == "integer":
        return f"TRY_CAST({v} AS DECIMAL(38,10)) = TRY_CAST({v} AS BIGINT)"
    if field.kind == "decimal":
        return f"TRY_CAST({v} AS DECIMAL(38,18)) = TRY_CAST({v} AS {field.type})"
    return None


def _problem(field: Field) -> str:
    if field.kind == "date":
        return "is not a date (YYYY-MM-DD)"
    if field.kind == "period":
        return "is not a billing period (YYYY-MM)"
    if field.kind == "integer":
        return "is not a whole number"
    precision, scale = _DECIMAL.fullmatch(field.type).groups()
    return f"is not a number with at most {scale} decimal places and {int(precision) - int(scale)} integer digits"


def _parsed(field: Field) -> str:
    return _value(field) if field.kind in ("text", "period") else f"CAST({_value(field)} AS {field.type})"


def _check_values(con: duckdb.DuckDBPyConnection, path: str, raw: str, fields: Sequence[Field], first_row: int) -> None:
    """Raise naming file, line and column of the first unparsable values, if there are any."""
    label = "line" if first_row == 2 else "row"
    problems: list[tuple[int, str]] = []
    total = 0
    for field in fields:
        valid = _valid(field)
        if valid is None:
            continue
        bad = f"FROM {quote(raw)} WHERE {_value(field)} IS NOT NULL AND NOT coalesce({valid}, false)"
        ((count,),) = con.execute(f"SELECT count(*) {bad}").fetchall()
        if not count:
            continue
        total += count
        sample = con.execute(
            f"SELECT rowid + $first, {quote(field.name)} {bad} ORDER BY rowid LIMIT $limit",
            {"first": first_row, "limit": SHOWN_ERRORS},
        ).fetchall()
        problems += [(row, f"{label} {row}, column {field.name!r}: {value!r} {_problem(field)}") for row, value in sample]
    if problems:
        problems.sort()
        listed = "\n".join(f"  {text}" for _, text in problems[:SHOWN_ERRORS])
        more = f"\n  ... and {total - SHOWN_ERRORS} more" if total > SHOWN_ERRORS else ""
        raise FileFormatError(f"{path}: {total} unparsable value{'s' if total > 1 else ''}:\n{listed}{more}")
