"""The CUR 2.0 (AWS Data Exports) column list the generator writes, and its Arrow types.

The list is the ``cur2_default`` table of /work/shared/reference/aws_data_exports_columns.json
(itself extracted from the AWS Cloud Intelligence Dashboards data-exports template), copied here
so the package does not depend on a path outside the repository. Where the template declares no
Glue type the reference rule applies: string, unless the name says it holds a number or a date.
We read that rule by name tokens: ``cost``, ``amount`` or ``quantity`` anywhere, or ``rate`` as the
last token (so ``pricing_rate_id`` and ``pricing_rate_code`` stay strings), make a double; a last
token ``date`` makes a timestamp.

Timestamps are written as ``timestamp[ms]`` without a time zone (values are UTC): a reader then
gets a plain TIMESTAMP and no session-time-zone conversion can shift an hour into another day.
"""

from __future__ import annotations

import re

import pyarrow as pa

# (name, Glue type or None), in the order of the reference file.
CUR2_COLUMNS: tuple[tuple[str, str | None], ...] = (
    ('bill_bill_type', 'string'),
    ('bill_billing_entity', 'string'),
    ('bill_billing_period_end_date', 'timestamp'),
    ('bill_billing_period_start_date', 'timestamp'),
    ('bill_invoice_id', 'string'),
    ('bill_invoicing_entity', None),
    ('bill_payer_account_id', 'string'),
    ('bill_payer_account_name', 'string'),
    ('cost_category', 'map<string,string>'),
    ('discount', 'map<string,double>'),
    ('discount_bundled_discount', 'double'),
    ('discount_total_discount', 'double'),
    ('identity_line_item_id', 'string'),
    ('identity_time_interval', 'string'),
    ('line_item_availability_zone', 'string'),
    ('line_item_blended_cost', None),
    ('line_item_blended_rate', None),
    ('line_item_currency_code', None),
    ('line_item_legal_entity', 'string'),
    ('line_item_line_item_description', 'string'),
    ('line_item_line_item_type', 'string'),
    ('line_item_net_unblended_cost', 'double'),
    ('line_item_net_unblended_rate', 'string'),
    ('line_item_normalization_factor', None),
    ('line_item_normalized_usage_amount', None),
    ('line_item_operation', 'string'),
    ('line_item_product_code', 'string'),
    ('line_item_resource_id', 'string'),
    ('line_item_tax_type', None),
    ('line_item_unblended_cost', 'double'),
    ('line_item_unblended_rate', 'string'),
    ('line_item_usage_account_id', 'string'),
    ('line_item_usage_account_name', 'string'),
    ('line_item_usage_amount', 'double'),
    ('line_item_usage_end_date', 'timestamp'),
    ('line_item_usage_start_date', 'timestamp'),
    ('line_item_usage_type', 'string'),
    ('pricing_currency', None),
    ('pricing_lease_contract_length', 'string'),
    ('pricing_offering_class', 'string'),
    ('pricing_public_on_demand_cost', 'double'),
    ('pricing_public_on_demand_rate', 'string'),
    ('pricing_purchase_option', 'string'),
    ('pricing_rate_code', 'string'),
    ('pricing_rate_id', None),
    ('pricing_term', 'string'),
    ('pricing_unit', 'string'),
    ('product', 'map<string,string>'),
    ('product_comment', None),
    ('product_fee_code', None),
    ('product_fee_description', None),
    ('product_from_location', 'string'),
    ('product_from_location_type', None),
    ('product_from_region_code', None),
    ('product_instance_family', None),
    ('product_instance_type', 'string'),
    ('product_instancesku', None),
    ('product_location', None),
    ('product_location_type', None),
    ('product_operation', None),
    ('product_pricing_unit', None),
    ('product_product_family', 'string'),
    ('product_region_code', 'string'),
    ('product_servicecode', 'string'),
    ('product_sku', 'string'),
    ('product_to_location', 'string'),
    ('product_to_location_type', None),
    ('product_to_region_code', None),
    ('product_usagetype', None),
    ('reservation_amortized_upfront_cost_for_usage', None),
    ('reservation_amortized_upfront_fee_for_billing_period', 'double'),
    ('reservation_availability_zone', None),
    ('reservation_effective_cost', 'double'),
    ('reservation_end_time', 'string'),
    ('reservation_modification_status', None),
    ('reservation_net_amortized_upfront_cost_for_usage', 'double'),
    ('reservation_net_amortized_upfront_fee_for_billing_period', 'double'),
    ('reservation_net_effective_cost', 'double'),
    ('reservation_net_recurring_fee_for_usage', 'double'),
    ('reservation_net_unused_amortized_upfront_fee_for_billing_period', 'double'),
    ('reservation_net_unused_recurring_fee', 'double'),
    ('reservation_net_upfront_value', 'double'),
    ('reservation_normalized_units_per_reservation', None),
    ('reservation_number_of_reservations', None),
    ('reservation_recurring_fee_for_usage', None),
    ('reservation_reservation_a_r_n', 'string'),
    ('reservation_start_time', 'string'),
    ('reservation_subscription_id', None),
    ('reservation_total_reserved_normalized_units', None),
    ('reservation_total_reserved_units', None),
    ('reservation_units_per_reservation', None),
    ('reservation_unused_amortized_upfront_fee_for_billing_period', 'double'),
    ('reservation_unused_normalized_unit_quantity', None),
    ('reservation_unused_quantity', None),
    ('reservation_unused_recurring_fee', 'double'),
    ('reservation_upfront_value', None),
    ('resource_tags', 'map<string,string>'),
    ('savings_plan_amortized_upfront_commitment_for_billing_period', 'double'),
    ('savings_plan_end_time', 'string'),
    ('savings_plan_instance_type_family', None),
    ('savings_plan_net_amortized_upfront_commitment_for_billing_period', 'double'),
    ('savings_plan_net_recurring_commitment_for_billing_period', 'double'),
    ('savings_plan_net_savings_plan_effective_cost', 'double'),
    ('savings_plan_offering_type', 'string'),
    ('savings_plan_payment_option', 'string'),
    ('savings_plan_purchase_term', 'string'),
    ('savings_plan_recurring_commitment_for_billing_period', None),
    ('savings_plan_region', None),
    ('savings_plan_savings_plan_a_r_n', 'string'),
    ('savings_plan_savings_plan_effective_cost', 'double'),
    ('savings_plan_savings_plan_rate', None),
    ('savings_plan_start_time', 'string'),
    ('savings_plan_total_commitment_to_date', 'double'),
    ('savings_plan_used_commitment', 'double'),
    ('tags', 'map<string,string>'),
)

MAP_STRING = pa.map_(pa.string(), pa.string())
MAP_DOUBLE = pa.map_(pa.string(), pa.float64())
TIMESTAMP = pa.timestamp("ms")

_GLUE_TO_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "double": pa.float64(),
    "timestamp": TIMESTAMP,
    "map<string,string>": MAP_STRING,
    "map<string,double>": MAP_DOUBLE,
}
_NUMBER_TOKENS = frozenset({"cost", "amount", "quantity"})


def glue_type(name: str, declared: str | None) -> str:
    """The Glue type of a column: the declared one, else the reference naming rule."""
    if declared is not None:
        return declared
    tokens = name.split("_")
    if _NUMBER_TOKENS.intersection(tokens) or tokens[-1] == "rate":
        return "double"
    if tokens[-1] == "date":
        return "timestamp"
    return "string"


def arrow_type(glue: str) -> pa.DataType:
    try:
        return _GLUE_TO_ARROW[glue]
    except KeyError:
        raise ValueError(f"no Arrow type for Glue type {glue!r}") from None


CUR2_GLUE_TYPES: dict[str, str] = {name: glue_type(name, declared) for name, declared in CUR2_COLUMNS}
CUR2_SCHEMA: pa.Schema = pa.schema(
    [pa.field(name, arrow_type(CUR2_GLUE_TYPES[name])) for name, _ in CUR2_COLUMNS]
)
CUR2_NAMES: tuple[str, ...] = tuple(name for name, _ in CUR2_COLUMNS)
SCALAR_COLUMNS: tuple[str, ...] = tuple(f.name for f in CUR2_SCHEMA if not pa.types.is_map(f.type))

# Legacy CUR (Athena Parquet) has no account-name columns (CUR 2.0 added them) and no maps: one
# column per tag, product attribute, cost category and discount type instead.
LEGACY_DROPPED: frozenset[str] = frozenset({"bill_payer_account_name", "line_item_usage_account_name"})
LEGACY_BASE_COLUMNS: tuple[str, ...] = tuple(n for n in SCALAR_COLUMNS if n not in LEGACY_DROPPED)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def athena_name(key: str) -> str:
    """A key as the legacy CUR Athena integration spells it: ``aws_createdBy`` -> ``aws_created_by``.

    CamelCase is split, everything is lower-cased and other characters become ``_``; so
    ``user_Team`` and ``user_team`` land in the same column, as they do in Athena.
    """
    return _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_")
