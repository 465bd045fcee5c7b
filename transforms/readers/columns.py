"""The source columns ingestion reads, by their CUR 2.0 names, and how legacy names map to them.

Every source format is first conformed to these columns (``transforms.readers.staging``), so the
normalization SQL is written once. Legacy CUR Athena Parquet names are the CUR 2.0 names
(``legacy_cur_to_cur2.json``) except product attributes, which CUR 2.0 keeps in the ``product``
map and legacy CUR as one ``product_<attribute>`` column each. Legacy CSV headers
(``lineItem/UnblendedCost``) become Athena names by the rule AWS applies itself (``athena_name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How a column is conformed (transforms.readers.staging) and the DuckDB type it ends up with.
KIND_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "account": "VARCHAR",
    "double": "DOUBLE",
    "money": "DECIMAL(18,10)",
    "timestamp": "TIMESTAMP",
    "map": "MAP(VARCHAR, VARCHAR)",
}


@dataclass(frozen=True)
class InputColumn:
    name: str
    kind: str
    required: bool = False


INPUT_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn("bill_payer_account_id", "account", True),
    InputColumn("bill_billing_period_start_date", "timestamp", True),
    InputColumn("identity_line_item_id", "text"),
    InputColumn("line_item_usage_account_id", "account", True),
    InputColumn("line_item_usage_account_name", "text"),
    InputColumn("line_item_line_item_type", "text", True),
    InputColumn("line_item_usage_start_date", "timestamp", True),
    InputColumn("line_item_product_code", "text", True),
    InputColumn("line_item_usage_type", "text"),
    InputColumn("line_item_operation", "text"),
    InputColumn("line_item_availability_zone", "text"),
    InputColumn("line_item_resource_id", "text"),
    InputColumn("line_item_usage_amount", "double"),
    InputColumn("line_item_currency_code", "text", True),
    InputColumn("line_item_unblended_cost", "money", True),
    InputColumn("line_item_net_unblended_cost", "money"),
    InputColumn("pricing_unit", "text"),
    InputColumn("pricing_public_on_demand_cost", "money"),
    InputColumn("product_product_family", "text"),
    InputColumn("product_instance_type", "text"),
    InputColumn("product_region_code", "text"),
    InputColumn("savings_plan_savings_plan_a_r_n", "text"),
    InputColumn("savings_plan_offering_type", "text"),
    InputColumn("savings_plan_savings_plan_effective_cost", "money"),
    InputColumn("savings_plan_net_savings_plan_effective_cost", "money"),
    InputColumn("savings_plan_total_commitment_to_date", "money"),
    InputColumn("savings_plan_used_commitment", "money"),
    InputColumn("reservation_reservation_a_r_n", "text"),
    InputColumn("reservation_effective_cost", "money"),
    InputColumn("reservation_net_effective_cost", "money"),
    InputColumn("reservation_unused_amortized_upfront_fee_for_billing_period", "money"),
    InputColumn("reservation_net_unused_amortized_upfront_fee_for_billing_period", "money"),
    InputColumn("reservation_unused_recurring_fee", "money"),
    InputColumn("reservation_net_unused_recurring_fee", "money"),
)

# CUR 2.0 only: map columns (JSON text in CUR 2.0 CSV).
CUR2_MAP_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn("product", "map"),
    InputColumn("resource_tags", "map"),
    InputColumn("cost_category", "map"),
)

# Legacy CUR only: the product attributes read, one column each (CUR 2.0: product['<attribute>']).
LEGACY_PRODUCT_COLUMNS: tuple[InputColumn, ...] = tuple(
    InputColumn(f"product_{attribute}", "text")
    for attribute in ("product_name", "region", "physical_processor", "operating_system", "storage_class", "volume_api_name")
)

# Legacy CUR: one column per tag / cost category, e.g. resource_tags_user_team, resourceTags/user:team.
LEGACY_TAG_PREFIX = "resource_tags_"
LEGACY_COST_CATEGORY_PREFIX = "cost_category_"

_LEGACY_CSV_CATEGORIES = {
    "bill": "bill", "identity": "identity", "line_item": "lineItem", "pricing": "pricing",
    "product": "product", "reservation": "reservation", "savings_plan": "savingsPlan",
}


def athena_name(column: str) -> str:
    """Athena/Parquet name of a legacy CUR column: 'lineItem/UnblendedCost' -> 'line_item_unblended_cost'.

    AWS's rule: an underscore before every capital, everything lowercased, any other character
    an underscore, runs of underscores collapsed ('savingsPlan/SavingsPlanARN' ->
    'savings_plan_savings_plan_a_r_n'). Names already in that form are unchanged.
    """
    out = []
    for ch in column.strip():
        if ch.isupper():
            out.append("_" + ch.lower())
        elif ch.isalnum():
            out.append(ch)
        else:
            out.append("_")
    return re.sub("_+", "_", "".join(out)).strip("_")


def legacy_csv_header(name: str) -> str:
    """The legacy CSV header of a CUR 2.0 column, for messages: 'line_item_unblended_cost' -> 'lineItem/UnblendedCost'."""
    for prefix in sorted(_LEGACY_CSV_CATEGORIES, key=len, reverse=True):
        if name.startswith(prefix + "_"):
            rest = name[len(prefix) + 1:]
            return f"{_LEGACY_CSV_CATEGORIES[prefix]}/" + "".join(p[:1].upper() + p[1:] for p in rest.split("_"))
    return name
