"""FOCUS ingestion: curlake's export read back (round trip), other clouds' FOCUS files, bad input."""

from __future__ import annotations

import json
import os
from decimal import Decimal as D

import pytest

from transforms import duck
from transforms.discover import discover
from transforms.focus import focus_relation, write_focus
from transforms.generate import generate
from transforms.readers import IngestError, ingest_errors, read_delivery

PERIOD = "2025-02"
GROUPS = ("line_item_type", "charge_category", "purchase_option", "service_code", "usage_account_id",
          "usage_date", "region", "tags['team']")
TOTALS = ("count(*) FILTER (WHERE unblended_cost <> 0 OR net_unblended_cost <> 0 OR public_on_demand_cost <> 0 "
          "OR line_item_type NOT IN ('RIFee', 'SavingsPlanRecurringFee', 'Fee'))",
          "sum(unblended_cost)", "sum(net_unblended_cost)", "sum(amortized_cost)", "sum(net_amortized_cost)",
          "sum(public_on_demand_cost)", "round(sum(usage_amount), 6)")


def _read(con, source: str, table: str):
    [delivery] = discover(source)
    with ingest_errors():
        read_delivery(con, delivery).create(table)
    return delivery


def _totals(con, table: str) -> list[tuple]:
    return con.execute(f"SELECT {', '.join(GROUPS)}, {', '.join(TOTALS)} FROM {table} GROUP BY ALL ORDER BY ALL").fetchall()


@pytest.mark.parametrize("fmt", ["cur2-parquet", "legacy-parquet"])
def test_round_trip_keeps_every_total(tmp_path, fmt):
    generate(str(tmp_path / "src"), [PERIOD], 10000, seed=3, fmt=fmt, business_metrics=False)
    con = duck.connect()
    _read(con, str(tmp_path / "src"), "original")
    write_focus(con, focus_relation(con, PERIOD, source="original"), str(tmp_path / "focus" / "part-0.parquet"))
    delivery = _read(con, str(tmp_path / "focus"), "back")
    assert delivery.format == "focus-parquet"
    original, back = _totals(con, "original"), _totals(con, "back")
    assert len(original) > 100 and back == original
    # The companion rows of fee amortization are the only extra rows.
    extra = con.execute("SELECT (SELECT count(*) FROM back) - (SELECT count(*) FROM original)").fetchall()[0][0]
    companions = con.execute("SELECT count(*) FROM original WHERE charge_category = 'Purchase' "
                             "AND (amortized_cost <> 0 OR net_amortized_cost <> 0)").fetchall()[0][0]
    assert extra == companions > 0
    same_attrs = con.execute(
        "SELECT count(*) FROM (SELECT line_item_id, instance_family, processor, operating_system, tags FROM original "
        "EXCEPT SELECT line_item_id, instance_family, processor, operating_system, tags FROM back)").fetchall()[0][0]
    assert same_attrs == 0


def _azure_csv(path: str, rows: list[dict]) -> None:
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(_csv_cell(r[h]) for h in header) for r in rows]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text


def _azure_row(**overrides) -> dict:
    row = {
        "BillingAccountId": "/providers/Microsoft.Billing/billingAccounts/12345678", "BillingCurrency": "EUR",
        "BillingPeriodStart": "2025-02-01T00:00:00Z", "ChargePeriodStart": "2025-02-03T00:00:00Z",
        "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based", "BilledCost": "1.2500000000001",
        "EffectiveCost": "1.25", "ListCost": "1.5", "ContractedCost": "1.25", "SubAccountId": "sub-1",
        "SubAccountName": "prod", "ServiceName": "Virtual Machines", "RegionId": "westeurope",
        "ResourceId": "/subscriptions/sub-1/vm-1", "SkuMeter": "D2s v3", "PricingCategory": "Standard",
        "PricingQuantity": "24", "PricingUnit": "Hours", "ConsumedQuantity": "24",
        "CommitmentDiscountId": "", "CommitmentDiscountCategory": "", "CommitmentDiscountStatus": "",
        "CommitmentDiscountType": "", "Tags": json.dumps({"Team": "search", "user:env": "prod", "": "x"}),
    }
    row.update(overrides)
    return row


def test_other_clouds_focus_csv_is_read_with_derived_types(tmp_path):
    rows = [
        _azure_row(),
        _azure_row(ChargeCategory="Credit", BilledCost="-2", EffectiveCost="-2", ListCost="", ContractedCost="",
                   PricingQuantity="", ConsumedQuantity="", ResourceId=""),
        _azure_row(CommitmentDiscountId="/reservations/r-1", CommitmentDiscountCategory="Usage",
                   CommitmentDiscountStatus="Used", CommitmentDiscountType="Reservation", BilledCost="0",
                   EffectiveCost="0.8", PricingCategory="Committed"),
        _azure_row(CommitmentDiscountId="/savingsplans/s-1", CommitmentDiscountCategory="Spend",
                   CommitmentDiscountStatus="Unused", BilledCost="0", EffectiveCost="0.3", ConsumedQuantity=""),
        _azure_row(ChargeCategory="Purchase", ChargeFrequency="One-Time", CommitmentDiscountId="/reservations/r-1",
                   CommitmentDiscountCategory="Usage", BilledCost="100", EffectiveCost="0"),
        _azure_row(PricingCategory="Dynamic", Tags=""),
    ]
    _azure_csv(str(tmp_path / "azure" / "20250201-20250228" / "run-1" / "part_1_0001.csv"), rows)
    con = duck.connect()
    delivery = _read(con, str(tmp_path / "azure"), "items")
    assert (delivery.format, delivery.billing_period) == ("focus-csv", PERIOD)
    got = con.execute("SELECT line_item_type, charge_category, purchase_option, net_unblended_cost, net_amortized_cost, "
                      "unblended_cost, public_on_demand_cost, tags, service_code, usage_account_id, currency, "
                      "CAST(usage_start AS VARCHAR) FROM items").fetchall()
    assert got == [
        ("Usage", "Usage", "OnDemand", D("1.25"), D("1.25"), D("1.25"), D("1.5"), {"team": "search", "env": "prod"},
         "Virtual Machines", "sub-1", "EUR", "2025-02-03 00:00:00"),
        ("Credit", "Adjustment", "OnDemand", D("-2"), D("-2"), D("-2"), D("0"), {"team": "search", "env": "prod"},
         "Virtual Machines", "sub-1", "EUR", "2025-02-03 00:00:00"),
        ("DiscountedUsage", "Usage", "Reserved", D("0"), D("0.8"), D("1.25"), D("1.5"), {"team": "search", "env": "prod"},
         "Virtual Machines", "sub-1", "EUR", "2025-02-03 00:00:00"),
        ("SavingsPlanRecurringFee", "Usage", "SavingsPlan", D("0"), D("0.3"), D("1.25"), D("1.5"),
         {"team": "search", "env": "prod"}, "Virtual Machines", "sub-1", "EUR", "2025-02-03 00:00:00"),
        ("Fee", "Purchase", "Reserved", D("100"), D("0"), D("1.25"), D("1.5"), {"team": "search", "env": "prod"},
         "Virtual Machines", "sub-1", "EUR", "2025-02-03 00:00:00"),
        ("Usage", "Usage", "Spot", D("1.25"), D("1.25"), D("1.25"), D("1.5"), {}, "Virtual Machines", "sub-1", "EUR",
         "2025-02-03 00:00:00"),
    ]


def test_azure_keeps_only_the_newest_run(tmp_path):
    for run, cost in (("run-old", "1"), ("run-new", "2")):
        folder = tmp_path / "azure" / "20250201-20250228" / run
        _azure_csv(str(folder / "part_1_0001.csv"), [_azure_row(BilledCost=cost, EffectiveCost=cost)])
        (folder / "manifest.json").write_text("{}")
        os.utime(folder / "manifest.json", (1_700_000_000 + int(cost), 1_700_000_000 + int(cost)))
    con = duck.connect()
    _read(con, str(tmp_path / "azure"), "items")
    assert con.execute("SELECT sum(net_unblended_cost), count(*) FROM items").fetchall() == [(D("2"), 1)]


def test_aws_focus_export_in_data_exports_layout_is_found(tmp_path):
    con = duck.connect()
    generate(str(tmp_path / "src"), [PERIOD], 10000, seed=4, fmt="cur2-parquet", business_metrics=False)
    _read(con, str(tmp_path / "src"), "original")
    target = tmp_path / "exports" / "focus-export" / "data" / f"BILLING_PERIOD={PERIOD}" / "focus-export-00001.snappy.parquet"
    write_focus(con, focus_relation(con, PERIOD, source="original"), str(target))
    [delivery] = discover(str(tmp_path / "exports"))
    assert delivery.format == "focus-parquet" and delivery.billing_period == PERIOD


def test_missing_required_column_names_file_and_column(tmp_path):
    row = _azure_row()
    del row["EffectiveCost"]
    path = str(tmp_path / "oci" / "focus.csv")
    _azure_csv(path, [row])
    [delivery] = discover(str(tmp_path / "oci"))
    with pytest.raises(IngestError, match=rf"{path}: missing required FOCUS column EffectiveCost"):
        read_delivery(duck.connect(), delivery)


@pytest.mark.parametrize(("override", "message"), [
    ({"ChargeCategory": "Bogus"}, r"unknown ChargeCategory 'Bogus'"),
    ({"BilledCost": "12,5"}, r"column BilledCost value 12,5 is not a number"),
    ({"BillingPeriodStart": "2025-03-01T00:00:00Z"}, r"BillingPeriodStart is in billing period 2025-03 but the file "
                                                     r"was delivered for billing period 2025-02"),
    ({"ChargePeriodStart": "yesterday"}, r"column ChargePeriodStart value yesterday is not a timestamp"),
])
def test_bad_rows_name_file_and_problem(tmp_path, override, message):
    path = str(tmp_path / "gcp" / "focus.csv")
    _azure_csv(path, [_azure_row(), _azure_row(**override)])
    [delivery] = discover(str(tmp_path / "gcp"))
    with pytest.raises(IngestError, match=rf"{path}: .*{message}"), ingest_errors():
        read_delivery(duck.connect(), delivery).fetchall()
