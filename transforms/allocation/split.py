"""``cost_allocation`` and ``shared_cost_split``: owners' direct cost plus their shares of the pools, in cents.

Both tables are one SQL statement each: line items grouped by day, currency, service, charge
category and decision key with their owners (lineitems.grouped_allocated_sql) as a CTE, the split
(sql/shared_cost_split/split_cells.sql) and the table's own SELECT. They run the same
deterministic split, so the shared rows of cost_allocation and the amounts of shared_cost_split
are the same cents.
"""

from __future__ import annotations

from typing import Any

import duckdb

from transforms.allocation import fragments, sqltext
from transforms.allocation.config import AllocationConfig
from transforms.allocation.lineitems import grouped_allocated_sql

# What the split reads of the line items besides the decision key: the cell's own columns and costs.
_CELL_COLUMNS = ("usage_date", "currency", "service_code", "charge_category")
_COSTS = (
    "sum(unblended_cost) AS unblended_cost",
    "sum(amortized_cost) AS amortized_cost",
    "sum(net_amortized_cost) AS net_amortized_cost",
)


def split_sql(
    config: AllocationConfig,
    billing_period: str,
    tail: tuple[str, str],
    line_items: str = "cost_line_items",
    metrics: str = "business_metrics_daily",
) -> tuple[str, dict[str, Any]]:
    """Allocated line items, the split CTEs and the SELECT in ``sql/<tail[0]>/<tail[1]>.sql``."""
    usage_frags, usage_params = fragments.usage_driver_fragments(config)
    measures = _COSTS + ((fragments.USAGE_SUM,) if any(p.driver_usage for p in config.pools) else ())
    allocated, params = grouped_allocated_sql(config, billing_period, line_items, _CELL_COLUMNS, measures)
    if any(p.driver_metric for p in config.pools):
        metric = sqltext.fill(sqltext.read("shared_cost_split", "metric_drivers"), {"metrics": sqltext.quote_ident(metrics)})
    else:
        # No pool reads business metrics: the table need not exist.
        metric = (
            "SELECT CAST(NULL AS VARCHAR) AS pool, CAST(NULL AS DATE) AS usage_date, CAST(NULL AS VARCHAR) AS team,"
            " CAST(NULL AS DECIMAL(38,6)) AS value WHERE false"
        )
    cells = sqltext.fill(sqltext.read("shared_cost_split", "split_cells"), {**usage_frags, "metric_drivers": metric})
    text = f"WITH allocated AS (\n{allocated}\n),\n{cells}\n{sqltext.read(*tail)}"
    return text, {**params, **usage_params}


def _check_metrics(con: duckdb.DuckDBPyConnection, config: AllocationConfig, metrics: str) -> None:
    """Fail early, naming table, column and pool, when a business-metric driver cannot be read."""
    needed = {p.name: p.driver_metric for p in config.pools if p.driver_metric}
    if not needed:
        return
    try:
        columns = set(con.sql(f"SELECT * FROM {sqltext.quote_ident(metrics)} LIMIT 0").columns)
    except duckdb.CatalogException:
        pools = ", ".join(sorted(needed))
        raise ValueError(
            f"table {metrics!r} (business metrics) does not exist; pools {pools} of {config.path} split by it"
        ) from None
    for pool, metric in sorted(needed.items()):
        missing = [c for c in ("date", "team", metric) if c not in columns]
        if missing:
            raise ValueError(
                f"table {metrics!r} has no column {missing[0]!r}, needed by pool {pool!r} of {config.path} "
                f"(columns: {', '.join(sorted(columns))})"
            )


def build_cost_allocation(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    billing_period: str,
    line_items: str = "cost_line_items",
    metrics: str = "business_metrics_daily",
) -> duckdb.DuckDBPyRelation:
    """The ``cost_allocation`` rows of one billing period (lazy relation; sql/cost_allocation/cost_allocation.sql).

    Grain: usage_date x team, product, environment, cost_center x allocation_method, allocation_reason,
    pool x usage_account_id, service_code, charge_category, currency. Money columns (DECIMAL(18,2)):
    direct_/shared_ x unblended_cost, amortized_cost, net_amortized_cost. ``metrics`` is read only
    when a pool is split by a business metric.
    """
    _check_metrics(con, config, metrics)
    text, params = split_sql(config, billing_period, ("cost_allocation", "cost_allocation"), line_items, metrics)
    return sqltext.relation(con, text, params)


def build_shared_cost_split(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    billing_period: str,
    line_items: str = "cost_line_items",
    metrics: str = "business_metrics_daily",
) -> duckdb.DuckDBPyRelation:
    """The ``shared_cost_split`` rows of one billing period (lazy; sql/shared_cost_split/shared_cost_split.sql).

    One row per pool, day, cost basis and recipient: method, applied_method, driver, driver_value,
    driver_share, pool_amount and amount (DECIMAL(18,2)); recipient NULL for pool cost that could
    not be split (no recipients, or every driver zero with ``on_zero: unallocated``).
    """
    _check_metrics(con, config, metrics)
    text, params = split_sql(config, billing_period, ("shared_cost_split", "shared_cost_split"), line_items, metrics)
    return sqltext.relation(con, text, params)
