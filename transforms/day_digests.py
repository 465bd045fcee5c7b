"""Content digests of line items per usage day, and of whole tables: what a re-delivery changed.

AWS re-delivers the whole month several times a day; usually only the last day or two differ.
A digest per day, recorded with each published ``cost_line_items`` version, lets a curated table
whose rows of day d depend only on the line items of day d rebuild just the days whose digest
changed (see ``orchestration/assets/curated.py`` and docs/reliability.md).

A day's digest is order-independent (a re-delivery may list the same rows in other files and
another order) and covers every column of the relation it is given, not a subset: a change to
any value, a row added, removed or duplicated changes it. The caller picks the columns:
ingestion leaves out provenance (source_file, delivery_id), which every re-delivery changes. Per day, in one DuckDB pass, it combines:

- the row count and the exact (DECIMAL) sums of the money columns present;
- ``bit_xor`` and the HUGEINT ``sum`` of a 64-bit row hash over every column. XOR alone would
  let two equal rows cancel out (a duplicated row changed twice the same way would go
  unseen); the sum does not;
- the relation's column names and types, so a schema change changes every day.

Equal digests mean equal multisets of rows up to a 64-bit hash collision. A DuckDB upgrade that
changes ``hash()`` changes every digest: that only costs one full rebuild.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import duckdb

from transforms import schema

DAY_COLUMN = "usage_date"


class DigestError(ValueError):
    """A relation that cannot be digested (missing or mistyped day column, rows without a day)."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(con: duckdb.DuckDBPyConnection, relation_sql: str, params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(name, type) of the relation's columns, from its plan: no row is read."""
    try:
        description = con.execute(f"SELECT * FROM (\n{relation_sql}\n) AS curlake_digest_source LIMIT 0", dict(params or {})).description
    except duckdb.Error as exc:
        raise DigestError(f"digest: the relation does not run: {exc}\n  relation: {_short(relation_sql)}") from exc
    return [(d[0], str(d[1])) for d in description]


def _short(text: str, limit: int = 200) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def _digest(schema_text: str, values: tuple[Any, ...]) -> str:
    text = schema_text + "|" + "|".join("NULL" if v is None else str(v) for v in values)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _row_hash(columns: list[tuple[str, str]]) -> str:
    return f"hash({', '.join(_quote(name) for name, _ in columns)})"


def day_digests(
    con: duckdb.DuckDBPyConnection,
    relation_sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    day_column: str = DAY_COLUMN,
) -> dict[str, str]:
    """Per day of ``day_column`` (a DATE), a digest of the relation's rows: {'YYYY-MM-DD': hex}.

    ``relation_sql`` is a SELECT (e.g. ``'SELECT * FROM "staged"'``) whose ``$name`` parameters
    come from ``params``. One pass over the rows; nothing but one row per day reaches Python.
    Raises DigestError when the day column is missing, is not a DATE, or is NULL on some row.
    """
    columns = _columns(con, relation_sql, params)
    types = dict(columns)
    if day_column not in types:
        raise DigestError(f"day_digests: column {day_column!r} not found; columns: {[n for n, _ in columns]}")
    if types[day_column] != "DATE":
        raise DigestError(f"day_digests: column {day_column!r} has type {types[day_column]}, expected DATE")
    money = [name for name in schema.MONEY_COLUMNS if name in types]
    picked = "".join(f", {_quote(name)} AS curlake_money_{i}" for i, name in enumerate(money))
    sums = "".join(f", sum(curlake_money_{i})" for i in range(len(money)))
    query = (
        f"SELECT CAST(curlake_day AS VARCHAR), count(*){sums}, bit_xor(curlake_h), sum(CAST(curlake_h AS HUGEINT)) "
        f"FROM (SELECT {_quote(day_column)} AS curlake_day{picked}, {_row_hash(columns)} AS curlake_h "
        f"FROM (\n{relation_sql}\n) AS curlake_digest_source) GROUP BY curlake_day"
    )
    rows = con.execute(query, dict(params or {})).fetchall()
    schema_text = ",".join(f"{name} {type_}" for name, type_ in columns)
    missing = [row[1] for row in rows if row[0] is None]
    if missing:
        raise DigestError(
            f"day_digests: {missing[0]} row(s) have a NULL {day_column}; every row must belong to a day\n"
            f"  relation: {_short(relation_sql)}"
        )
    return {row[0]: _digest(schema_text, row[1:]) for row in sorted(rows)}


def table_digest(con: duckdb.DuckDBPyConnection, relation_sql: str, params: Mapping[str, Any] | None = None) -> str:
    """One digest of all of the relation's rows (count, row-hash XOR and sum, schema), in one pass.

    For small inputs that are not day-varying (business metrics, budgets): two versions with the
    same rows have the same digest, so re-publishing an input unchanged is recognized as such.
    """
    columns = _columns(con, relation_sql, params)
    if not columns:
        raise DigestError(f"table_digest: the relation has no column\n  relation: {_short(relation_sql)}")
    query = (
        f"SELECT count(*), bit_xor(h), sum(CAST(h AS HUGEINT)) "
        f"FROM (SELECT {_row_hash(columns)} AS h FROM (\n{relation_sql}\n) AS curlake_digest_source)"
    )
    (values,) = con.execute(query, dict(params or {})).fetchall()
    return _digest(",".join(f"{name} {type_}" for name, type_ in columns), values)


def changed_days(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """Days added, removed or with a different digest between two ``day_digests`` results, sorted."""
    return sorted(day for day in set(old) | set(new) if old.get(day) != new.get(day))
