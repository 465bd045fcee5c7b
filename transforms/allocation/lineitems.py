"""Owner and allocation method of line items: the first step of every allocation table.

The decision itself (sql/cost_allocation/owners.sql) reads only a line item's decision key
(fragments.decision_key: account, the columns rules read, the tag and cost category values the
config names). cost_allocation and shared_cost_split therefore do not decide per line item:
they group the line items by that key plus the columns they report, with summed costs
(``grouped_allocated_sql``, one pass of map lookups and a hash aggregate), and decide once per
group. ``allocated_sql`` runs the same
decision on every line item for readers that need every row (efficiency KPIs, anomalies'
resources, unallocated drivers, the allocated-once gate); DuckDB prunes what they do not read
(product, environment and cost center are constant-map lookups, not joins, so the tags behind
them are not even looked up).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from transforms import periods
from transforms.allocation import fragments, sqltext
from transforms.allocation.config import AllocationConfig

ALLOCATION_METHODS: tuple[str, ...] = ("tag", "account", "rule", "shared", "unallocated")


def _owners(config: AllocationConfig, keyed: str) -> tuple[str, dict[str, Any]]:
    """``WITH keyed AS (<keyed>), <owners.sql>``: a SELECT of ``keyed``'s rows with their owners."""
    case, rule_params = fragments.rule_case(config)
    text = sqltext.fill(sqltext.read("cost_allocation", "owners"), {**fragments.tag_fragments(config), "rule_order": case})
    return f"WITH keyed AS (\n{keyed}\n),\n{text}", {**fragments.config_params(config), **rule_params}


def _period(billing_period: str | None) -> tuple[str, dict[str, Any]]:
    if billing_period is None:
        return "true", {}
    return "billing_period = $billing_period", {"billing_period": periods.validate(billing_period)}


def grouped_allocated_sql(
    config: AllocationConfig,
    billing_period: str,
    line_items: str,
    columns: Sequence[str],
    measures: Sequence[str],
) -> tuple[str, dict[str, Any]]:
    """Line items of one period grouped by ``columns`` and the decision key, each group with its owner.

    ``columns`` are line item columns (fixed identifiers of our own SQL), ``measures`` aggregate
    expressions with an alias (``sum(amortized_cost) AS amortized``). The result has those, the
    decision key columns (raw_* included) and the owner columns allocate_line_items lists. Costs
    summed per group and then per cell are exactly the per-cell sums of the line items: DECIMAL
    sums do not round.
    """
    key = fragments.decision_key(config)
    where, params = _period(billing_period)
    keyed = (
        f"    SELECT {key.select_list(tuple(columns))},\n        {', '.join(measures)}\n"
        f"    FROM {sqltext.quote_ident(line_items)}\n    WHERE {where}\n    GROUP BY ALL"
    )
    text, owner_params = _owners(config, keyed)
    return text, {**params, **key.params, **owner_params}


def allocated_sql(
    config: AllocationConfig, billing_period: str | None, line_items: str = "cost_line_items"
) -> tuple[str, dict[str, Any]]:
    """The SELECT of allocated line items (one row per line item) and its parameters.

    Other tables embed it as a CTE. ``billing_period`` None reads every period of ``line_items``.
    Decided row by row: deciding once per distinct key and joining the owners back to the rows
    on every key column (NULL matching NULL) was measured slower, 1.25 against 0.82 CPU s per
    million line items, as it reads the line items and looks their tags up twice.
    """
    key = fragments.decision_key(config)
    where, params = _period(billing_period)
    keyed = f"    SELECT *, {key.raw_select} FROM {sqltext.quote_ident(line_items)} WHERE {where}"
    owners, owner_params = _owners(config, keyed)
    # Every dimension has a tag key, so there is always a raw value to leave out.
    return f"SELECT * EXCLUDE ({key.raw_names}) FROM (\n{owners}\n)", {**params, **key.params, **owner_params}


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
