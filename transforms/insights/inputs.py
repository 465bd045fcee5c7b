"""Input relations of the insight tables: their names, columns, types and row-level sanity.

The builders read relations the lead maps onto curated tables (``team_cost_daily`` onto
``cost_allocation``, ...). A wrong mapping must fail at once with a message naming the relation,
the column and the offending rows, not as a DuckDB binder error in the middle of a long query or,
worse, as a plausible but wrong number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import duckdb

from transforms import periods


class InputError(ValueError):
    """An input relation that cannot be used; the message names the relation, column and rows."""


# A table or view name, optionally qualified by schema (and catalog): what query_table() accepts.
_RELATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")

_INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)

# Column kinds -> a predicate on the DuckDB type name and what to say when it fails.
KINDS: dict[str, tuple[Callable[[str], bool], str]] = {
    "date": (lambda t: t == "DATE", "DATE"),
    "text": (lambda t: t == "VARCHAR", "VARCHAR"),
    # Money must be exact: a DOUBLE column would make totals drift off the cent.
    "money": (lambda t: t.startswith("DECIMAL") or t in _INTEGER_TYPES, "DECIMAL (money must be exact, not DOUBLE)"),
    "count": (lambda t: t in _INTEGER_TYPES, "an integer type"),
}

TEAM_COST_DAILY: dict[str, str] = {
    "usage_date": "date", "billing_period": "text", "team": "text", "product": "text",
    "usage_account_id": "text", "service_code": "text", "direct_cost": "money", "shared_cost": "money",
}
LINE_ITEM_COSTS: dict[str, str] = {
    "usage_date": "date", "team": "text", "usage_account_id": "text", "service_code": "text",
    "resource_id": "text", "cost": "money",
}
BUSINESS_METRICS_DAILY: dict[str, str] = {
    "date": "date", "billing_period": "text", "team": "text", "product": "text", "revenue": "money",
    "orders": "count", "active_users": "count", "currency": "text",
}
BUDGETS: dict[str, str] = {
    "billing_period": "text", "team": "text", "service_code": "text", "budget": "money", "currency": "text",
}


def relation_name(role: str, name: str) -> str:
    """``name`` if it is a plain (optionally schema-qualified) table or view name, else InputError."""
    if not isinstance(name, str) or not _RELATION_NAME.match(name):
        raise InputError(
            f"{role}: {name!r} is not a table or view name (expected an identifier such as "
            f"'cost_allocation_daily' or 'lake.team_cost_daily')"
        )
    return name


def require_columns(
    con: duckdb.DuckDBPyConnection, role: str, name: str, columns: Mapping[str, str], kinds: Mapping | None = None
) -> None:
    """Raise InputError unless relation ``name`` has every column of ``columns`` with a type of its kind
    (``kinds``: kind -> (accepts(type text), what is wanted); this module's KINDS by default)."""
    kinds = KINDS if kinds is None else kinds
    relation_name(role, name)
    try:
        rel = con.sql("SELECT * FROM query_table($name) LIMIT 0", params={"name": name})
    except duckdb.CatalogException as e:
        raise InputError(f"{role}: relation {name!r} does not exist ({e})") from None
    found = {c: str(t) for c, t in zip(rel.columns, rel.types)}
    missing = [c for c in columns if c not in found]
    if missing:
        raise InputError(
            f"{role} ({name!r}): missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"found: {', '.join(repr(c) for c in found)}"
        )
    for column, kind in columns.items():
        accepts, wanted = kinds[kind]
        if not accepts(found[column]):
            raise InputError(f"{role} ({name!r}): column {column!r} has type {found[column]}, expected {wanted}")


def fail_on_rows(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Mapping[str, Any],
    problem: str,
    limit: int = 5,
) -> None:
    """Run ``sql`` (a query returning offending rows) and raise InputError listing the first ones, if any.

    ``sql`` is fixed text of this package; every value it needs is bound through ``params``.
    """
    rel = con.sql(sql, params=dict(params))
    rows = rel.limit(limit + 1).fetchall()
    if rows:
        shown = "\n".join("  " + ", ".join(f"{c}={v!r}" for c, v in zip(rel.columns, row)) for row in rows[:limit])
        more = "\n  ... and more" if len(rows) > limit else ""
        raise InputError(f"{problem}; first offending rows:\n{shown}{more}")


def check_currency(con: duckdb.DuckDBPyConnection, role: str, name: str, currency: str, period_list: Sequence[str]) -> None:
    """Every row of ``name`` in ``period_list`` is in ``currency`` (money of several currencies cannot be summed)."""
    fail_on_rows(
        con,
        "SELECT billing_period, currency, count(*) AS rows FROM query_table($name) "
        "WHERE billing_period IN (SELECT unnest($periods::VARCHAR[])) AND currency IS DISTINCT FROM $currency "
        "GROUP BY ALL ORDER BY ALL",
        {"name": name, "periods": list(period_list), "currency": currency},
        f"{role} ({name!r}): column 'currency' must be {currency!r} (the billing currency)",
    )


def check_period_matches_date(
    con: duckdb.DuckDBPyConnection, role: str, name: str, date_column: str, period_list: Sequence[str]
) -> None:
    """Rows of ``period_list`` whose ``billing_period`` is not the month of their date are an input error.

    The builders group months by billing_period and days by date; the two must agree or a day's
    cost would be counted in one month's figures and another month's days.
    """
    quoted = '"' + date_column.replace('"', '""') + '"'  # a fixed column name of this package
    fail_on_rows(
        con,
        f"SELECT billing_period, {quoted}, count(*) AS rows FROM query_table($name) "
        f"WHERE billing_period IN (SELECT unnest($periods::VARCHAR[])) "
        f"AND (billing_period IS DISTINCT FROM strftime({quoted}, '%Y-%m')) GROUP BY ALL ORDER BY ALL",
        {"name": name, "periods": list(period_list)},
        f"{role} ({name!r}): billing_period differs from the month of {date_column!r} (or one is null)",
    )


def period_bounds(billing_period: str) -> tuple[date, date]:
    """First and last day of a billing period."""
    first = periods.first_day(billing_period)
    return first, first + timedelta(days=periods.days_in(billing_period) - 1)


previous_period = periods.previous_period  # re-exported: insights and efficiency import it from here
