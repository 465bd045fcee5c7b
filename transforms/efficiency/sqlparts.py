"""Composing the efficiency SQL: allocated line items -> classified line items -> a table's own query.

Each table's query reads the common table expressions ``allocated`` (the allocation's owner of every
line item, transforms.allocation) and ``classified`` (sql/efficiency_kpis/classified.sql: the
KPI classes of every line item), so the KPIs and the recommendations classify a line item the same
way. The pasted text is our own fixed SQL; every value is a bound parameter.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import duckdb

from transforms import periods, schema
from transforms.allocation import AllocationConfig, fragments, sqltext
from transforms.allocation.lineitems import allocated_sql
from transforms.efficiency.config import CreditScoreConfig
from transforms.sqlrunner import load_sql

# Owners of line items the allocation gives no team: shared-pool items and unowned ones.
SHARED_OWNER = "(shared)"
UNALLOCATED_OWNER = "unallocated"

_LEADING_COMMENTS = re.compile(r"\A(\s*--[^\n]*\n)*\s*")


def compose(ctes: list[tuple[str, str]], main: str) -> str:
    """``main`` (a query, possibly starting with its own WITH) with ``ctes`` (name, SQL) before its own."""
    parts = ",\n".join(f"{name} AS (\n{text.strip().rstrip(';')}\n)" for name, text in ctes)
    body = _LEADING_COMMENTS.sub("", main.strip().rstrip(";"))
    if body[:4].upper() == "WITH" and body[4:5].isspace():
        return f"WITH {parts},\n{body[5:]}"
    return f"WITH {parts}\n{body}"


def classified_ctes(
    allocation_config: AllocationConfig,
    config: CreditScoreConfig,
    line_items: str,
    period_list: list[str],
    read_from: date,
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """The ``allocated`` and ``classified`` CTEs over the line items of ``period_list`` used on or after ``read_from``."""
    allocated, params = allocated_sql(allocation_config, None, line_items)
    values = fragments.config_params(allocation_config)
    params.update(
        periods=list(period_list),
        read_from=read_from,
        shared_owner=SHARED_OWNER,
        unallocated_owner=UNALLOCATED_OWNER,
        graviton_equivalents=[{"family": f, "target": t} for f, t in config.graviton_equivalents],
        previous_generation=[{"family": f, "target": t} for f, t in config.previous_generation],
        s3_tiered_classes=list(config.s3_tiered_classes),
        required_tags=list(allocation_config.required_tags),
        taggable_categories=list(allocation_config.taggable_charge_categories),
        offset_line_item_types=list(schema.OFFSET_LINE_ITEM_TYPES),
        require_resource_id=allocation_config.taggable_requires_resource_id,
        **{f"{dim}_values": [row["match_value"] for row in values[f"values_{dim}"]]
           for dim in ("team", "product", "environment", "cost_center")},
    )
    return [("allocated", allocated), ("classified", load_sql("efficiency_kpis/classified"))], params


def relation(con: duckdb.DuckDBPyConnection, text: str, params: dict[str, Any]) -> duckdb.DuckDBPyRelation:
    """A lazy relation over ``text``, binding the parameters it uses (a missing one raises KeyError)."""
    return sqltext.relation(con, text, params)


def week_bounds(billing_period: str) -> tuple[date, date]:
    """Monday of the first and Sunday of the last ISO week whose Sunday falls in ``billing_period``.

    A week belongs to the period of its Sunday, so every week of a period is complete once the
    period is, and reads at most six days of the previous period (never the next one).
    """
    first = periods.first_day(billing_period)
    last = first + timedelta(days=periods.days_in(billing_period) - 1)
    first_sunday = first + timedelta(days=6 - first.weekday())
    last_sunday = last - timedelta(days=(last.weekday() + 1) % 7)
    return first_sunday - timedelta(days=6), last_sunday
