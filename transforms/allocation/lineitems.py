"""Owner and allocation method of every line item: the first step of every allocation table."""

from __future__ import annotations

from typing import Any

import duckdb

from transforms import periods
from transforms.allocation import fragments, sqltext
from transforms.allocation.config import AllocationConfig

ALLOCATION_METHODS: tuple[str, ...] = ("tag", "account", "rule", "shared", "unallocated")


def allocated_sql(
    config: AllocationConfig, billing_period: str | None, line_items: str = "cost_line_items"
) -> tuple[str, dict[str, Any]]:
    """The SELECT of allocated line items and its parameters (other tables embed it as a CTE).

    ``billing_period`` None reads every period of ``line_items``.
    """
    tag_frags, tag_params = fragments.tag_fragments(config)
    case, rule_params = fragments.rule_case(config)
    params = {**fragments.config_params(config), **tag_params, **rule_params}
    if billing_period is None:
        period_filter = "true"
    else:
        period_filter = "billing_period = $billing_period"
        params["billing_period"] = periods.validate(billing_period)
    text = sqltext.fill(
        sqltext.read("cost_allocation", "allocated_line_items"),
        {
            **tag_frags,
            "rule_order": case,
            "line_items": sqltext.quote_ident(line_items),
            "period_filter": period_filter,
        },
    )
    return text, params


def allocate_line_items(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    line_items: str = "cost_line_items",
    billing_period: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """Every line item with owner dimensions, ``allocation_method``, ``pool`` and reason.

    A lazy relation with the columns of ``line_items`` plus tag_team, tag_product, tag_environment,
    tag_cost_center (normalized tag values), rule_name, pool, allocation_method, team, product,
    environment, cost_center and allocation_reason. One row per line item: nothing is dropped or
    repeated (checks.check_allocated_once verifies it). Shared line items have no team yet: the
    pool's split gives them one (see build_cost_allocation). ``billing_period`` ('YYYY-MM')
    restricts it to one period, as every curated table does; None reads them all.
    """
    text, params = allocated_sql(config, billing_period, line_items)
    return sqltext.relation(con, text, params)
