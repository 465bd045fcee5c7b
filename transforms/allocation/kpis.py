"""Allocation KPIs: coverage with the unallocated cost to fix first, and tagging compliance.

``allocation_coverage`` reads the cost_allocation table (so it agrees with it to the cent);
the unallocated drivers, compliance and tag-key variants read the line items (they need resource
ids and raw tag keys, which cost_allocation no longer has).
"""

from __future__ import annotations

import duckdb

from transforms import periods, schema
from transforms.allocation import fragments, sqltext
from transforms.allocation.config import AllocationConfig
from transforms.allocation.lineitems import allocated_sql

TOP_RESOURCES = 10


def build_allocation_coverage(
    con: duckdb.DuckDBPyConnection, cost_allocation: str | duckdb.DuckDBPyRelation = "cost_allocation"
) -> duckdb.DuckDBPyRelation:
    """``allocation_coverage`` from cost_allocation (a table name or the relation build_cost_allocation returned).

    One row per billing_period x period_grain ('day' with usage_date, or 'month') x scope ('overall',
    or 'account' with usage_account_id) x cost_basis: total_cost, allocated_cost, tag_cost,
    account_cost, rule_cost, shared_cost, unallocated_cost (DECIMAL(18,2)) and coverage (DOUBLE,
    NULL when the total is zero).
    """
    rel = sqltext.source(con, cost_allocation)
    return rel.query("cost_allocation", sqltext.read("allocation_coverage", "allocation_coverage"))


def build_unallocated_drivers(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    billing_period: str,
    line_items: str = "cost_line_items",
    top_resources: int = TOP_RESOURCES,
) -> duckdb.DuckDBPyRelation:
    """The ``config.top_unallocated`` largest groups of unallocated line items (service, account, reason).

    Columns: billing_period, rank, service_code, usage_account_id, allocation_reason,
    unknown_team_value, unallocated_amortized_cost, unallocated_unblended_cost,
    share_of_unallocated, line_items, resources, top_resource_ids (costliest first).
    """
    # Per line item, not grouped by decision key and resource (measured 0.43 against 0.55 CPU s per
    # million line items): only the team's tags and the rules are read, and only unallocated rows
    # (about an eighth) are grouped by resource.
    allocated, params = allocated_sql(config, billing_period, line_items)
    text = f"WITH allocated AS (\n{allocated}\n),\n{sqltext.read('allocation_coverage', 'unallocated_drivers')}"
    params.update(top_n=config.top_unallocated, top_resources=top_resources)
    return sqltext.relation(con, text, params)


def _taggable_params(config: AllocationConfig, billing_period: str) -> dict[str, object]:
    return {
        "billing_period": periods.validate(billing_period),
        "taggable_categories": list(config.taggable_charge_categories),
        "offset_line_item_types": list(schema.OFFSET_LINE_ITEM_TYPES),
        "require_resource_id": config.taggable_requires_resource_id,
    }


def build_tag_compliance(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    billing_period: str,
    line_items: str = "cost_line_items",
) -> duckdb.DuckDBPyRelation:
    """``tag_compliance`` of one billing period: per account, service and required tag ('all_required' too).

    Columns: billing_period, usage_account_id, service_code, required_tag, taggable_cost,
    tagged_cost, invalid_value_cost, missing_cost (amortized, DECIMAL(18,2)), line_items and
    compliance = tagged / taggable (DOUBLE).
    """
    key = fragments.decision_key(config, dimensions_only=True)
    text = sqltext.fill(
        sqltext.read("tag_compliance", "tag_compliance"),
        {**fragments.tag_fragments(config), "raw_tags": key.raw_select, "line_items": sqltext.quote_ident(line_items)},
    )
    params = {
        **_taggable_params(config, billing_period),
        **fragments.config_params(config),
        **key.params,
        "required_tags": list(config.required_tags),
    }
    return sqltext.relation(con, text, params)


def build_tag_key_variants(
    con: duckdb.DuckDBPyConnection,
    config: AllocationConfig,
    billing_period: str,
    line_items: str = "cost_line_items",
) -> duckdb.DuckDBPyRelation:
    """Tag keys that look like a required tag's key but are not accepted, with the amortized cost behind each.

    Columns: billing_period, tag_key, required_tag, closest_key, match_kind ('case_or_whitespace',
    'separator', 'edit_distance'), distance, line_items, amortized_cost.
    """
    text = sqltext.fill(
        sqltext.read("tag_compliance", "tag_key_variants"), {"line_items": sqltext.quote_ident(line_items)}
    )
    accepted = [
        {"required_tag": name, "accepted_key": key, "key_order": i}
        for name in config.required_tags
        for i, key in enumerate(config.dimension(name).tag_keys)
    ]
    params = {
        **_taggable_params(config, billing_period),
        "accepted_keys": accepted,
        "all_keys": [key for dim in config.dimensions for key in dim.tag_keys],
        "max_distance": config.max_tag_key_distance,
    }
    return sqltext.relation(con, text, params)
