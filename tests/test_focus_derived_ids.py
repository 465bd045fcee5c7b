"""Proposed for tests/test_focus_export.py: SKU ids, SKU price ids and billing account names checked
against values computed independently (hashlib, by hand), on keys with NULL and '' parts."""

from __future__ import annotations

import hashlib
from decimal import Decimal as D

from transforms import duck, schema
from transforms.focus import focus_relation

PERIOD = "2025-03"
# (payer, usage account, account name, service, usage type, operation, purchase option, line item type, category)
ROWS = [
    ("111", "111", "payer-own", "AmazonEC2", "BoxUsage:m5.large", "RunInstances", "OnDemand", "Usage", "Usage"),
    ("111", "222", "member", "AmazonEC2", "BoxUsage:m5.large", "RunInstances", "Spot", "Usage", "Usage"),
    ("111", "222", "member", "AmazonEC2", None, "RunInstances", "OnDemand", "Usage", "Usage"),
    ("111", "222", "member", "AmazonEC2", "", "RunInstances", "OnDemand", "Usage", "Usage"),
    ("111", "222", "member", "AmazonS3", "TimedStorage", None, "OnDemand", "Usage", "Usage"),
    ("333", "444", "other", "AmazonEC2", None, None, "OnDemand", "Tax", "Tax"),
]


def _table(con) -> None:
    con.execute(schema.create_table_sql("cost_line_items"))
    for payer, account, name, service, usage_type, operation, option, line_item_type, category in ROWS:
        con.execute(
            "INSERT INTO cost_line_items (billing_period, usage_start, usage_date, payer_account_id, usage_account_id, "
            "usage_account_name, service_code, usage_type, operation, line_item_type, charge_category, purchase_option, "
            "usage_amount, currency, unblended_cost, net_unblended_cost, amortized_cost, net_amortized_cost, "
            "public_on_demand_cost, source_format, source_file, delivery_id) VALUES ($p, TIMESTAMP '2025-03-02 05:00:00', "
            "DATE '2025-03-02', $payer, $account, $name, $service, $usage_type, $operation, $lit, $cat, $option, 1.0, 'USD', "
            "$c, $c, $c, $c, $c, 'cur2-parquet', 'hand', 'd1')",
            {"p": PERIOD, "payer": payer, "account": account, "name": name, "service": service, "usage_type": usage_type,
             "operation": operation, "lit": line_item_type, "cat": category, "option": option, "c": D("1")},
        )


def _sku(service: str, usage_type: str | None, operation: str | None) -> str:
    key = "|".join([service, usage_type or "", operation or ""])
    return hashlib.md5(key.encode()).hexdigest()[:16].upper()


def test_sku_ids_and_account_names_match_an_independent_computation():
    con = duck.connect()
    _table(con)
    got = focus_relation(con, PERIOD).project(
        "BillingAccountId, BillingAccountName, x_ServiceCode, x_UsageType, x_Operation, x_PurchaseOption, SkuId, SkuPriceId"
    ).order("ALL").fetchall()
    expected = [
        (payer, {"111": "payer-own", "333": "333"}[payer], service, usage_type, operation, option,
         _sku(service, usage_type, operation) if category == "Usage" else None,
         f"{_sku(service, usage_type, operation)}-{option}" if category == "Usage" else None)
        for payer, _, _, service, usage_type, operation, option, _, category in ROWS
    ]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    # NULL and '' usage types share one SKU (the md5 key reads both as ''), as docs/focus.md says.
    null_and_empty = {sku for _, _, _, usage_type, _, _, sku, _ in got if usage_type in (None, "")}
    assert null_and_empty == {_sku("AmazonEC2", "", "RunInstances"), None}
