"""Input relations of the efficiency tables: names, columns and types, checked before any long query.

A wrong mapping (a relation without ``allocated_cost``, money as DOUBLE, an empty period) must fail
at once naming the relation and the column, not as a binder error deep in a query or as a
plausible but wrong score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import duckdb

from transforms.insights.inputs import InputError, relation_name
from transforms.insights import inputs as insights_inputs

_INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                       "UINTEGER", "UBIGINT", "UHUGEINT"})

KINDS: dict[str, tuple[Callable[[str], bool], str]] = {
    "date": (lambda t: t == "DATE", "DATE"),
    "text": (lambda t: t == "VARCHAR", "VARCHAR"),
    "money": (lambda t: t.startswith("DECIMAL") or t in _INTEGERS, "DECIMAL (money must be exact, not DOUBLE)"),
    "count": (lambda t: t in _INTEGERS, "an integer type"),
    "number": (lambda t: t.startswith("DECIMAL") or t in _INTEGERS or t in ("DOUBLE", "FLOAT"), "a number"),
    "share": (lambda t: t == "DOUBLE", "DOUBLE"),
    "flag": (lambda t: t == "BOOLEAN", "BOOLEAN"),
    "tags": (lambda t: t.startswith("MAP("), "MAP(VARCHAR, VARCHAR)"),
}

# The canonical columns the efficiency SQL and the allocation it runs read.
LINE_ITEMS: dict[str, str] = {
    "billing_period": "text", "usage_date": "date", "usage_account_id": "text", "service_code": "text",
    "usage_type": "text", "operation": "text", "resource_id": "text", "line_item_type": "text",
    "charge_category": "text", "purchase_option": "text", "commitment_arn": "text", "commitment_type": "text",
    "instance_type": "text", "instance_family": "text", "processor": "text", "operating_system": "text",
    "storage_class": "text", "volume_api_name": "text", "amortized_cost": "money",
    "public_on_demand_cost": "money", "tags": "tags",
}
BUDGET_VARIANCE: dict[str, str] = {
    "billing_period": "text", "team": "text", "scope": "text", "budget": "money", "actual_mtd": "money",
    "days_elapsed": "count", "days_in_month": "count",
}
UNIT_ECONOMICS: dict[str, str] = {
    "billing_period": "text", "grain": "text", "period_start": "date", "team": "text",
    "allocated_cost": "money", "orders": "number", "active_users": "number", "revenue": "number",
}
EFFICIENCY_KPIS: dict[str, str] = {
    "billing_period": "text", "grain": "text", "period_start": "date", "team": "text",
    "usage_account_id": "text", "kpi": "text", "numerator": "money", "denominator": "money",
    "value": "share", "applies": "flag",
}


def require_columns(con: duckdb.DuckDBPyConnection, role: str, name: str, columns: Mapping[str, str]) -> None:
    """Raise InputError unless relation ``name`` has every column of ``columns`` with a type of its kind."""
    insights_inputs.require_columns(con, role, name, columns, KINDS)


def require_period(con: duckdb.DuckDBPyConnection, role: str, name: str, billing_period: str) -> None:
    """Raise InputError if ``name`` holds no row of ``billing_period``: an empty table is a wiring mistake."""
    found = con.sql(
        "SELECT 1 FROM query_table($name) WHERE billing_period = $period LIMIT 1",
        params={"name": name, "period": billing_period},
    ).fetchall()
    if not found:
        raise InputError(f"{role} ({name!r}): no rows with billing_period = {billing_period!r}")
