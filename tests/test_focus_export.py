"""FOCUS 1.2 export of cost_line_items: hand-checked rows, totals read back by DuckDB, polars, pyarrow."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

import duckdb
import polars as pl
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from transforms import duck, lake, schema
from transforms.discover import discover
from transforms.focus import focus_relation, write_focus
from transforms.generate import generate
from transforms.readers import ingest_errors, read_delivery
from transforms.reconcile import source_totals

PERIOD = "2025-03"
SP = "arn:aws:savingsplans::111111111111:savingsplan/sp-1"
RI = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1"

# (line_item_type, charge_category, purchase_option, commitment_arn, usage_start, usage_type,
#  usage_amount, unblended, net_unblended, amortized, net_amortized, public, service_code, unit)
HAND_ROWS = [
    ("Usage", "Usage", "OnDemand", None, "2025-03-02 05:00:00", "BoxUsage:m7g.large", 2.0,
     "0.2000", "0.1900", "0.2000", "0.1900", "0.2000", "AmazonEC2", "Hrs"),
    ("SavingsPlanCoveredUsage", "Usage", "SavingsPlan", SP, "2025-03-02 05:00:00", "BoxUsage:m5.large", 1.0,
     "0.0960", "0.0960", "0.0600", "0.0570", "0.0960", "AmazonEC2", "Hrs"),
    ("SavingsPlanNegation", "Usage", "SavingsPlan", SP, "2025-03-02 05:00:00", "BoxUsage:m5.large", 1.0,
     "-0.0960", "-0.0960", "0", "0", "0", "AmazonEC2", "Hrs"),
    # Commitment 0.10 for the hour, 0.06 used: 0.04 unused is its amortized cost.
    ("SavingsPlanRecurringFee", "Purchase", "SavingsPlan", SP, "2025-03-02 05:00:00", "ComputeSP:1yrNoUpfront", 1.0,
     "0.1000", "0.0950", "0.0400", "0.0400", "0", "ComputeSavingsPlans", "Hrs"),
    ("RIFee", "Purchase", "Reserved", RI, "2025-03-01 00:00:00", "HeavyUsage:m5.large", 744.0,
     "50.0000", "50.0000", "10.0000", "10.0000", "0", "AmazonEC2", "Hrs"),
    ("Tax", "Tax", "OnDemand", None, "2025-03-01 00:00:00", None, 1.0,
     "5.0000", "5.0000", "5.0000", "5.0000", "0", "AmazonEC2", None),
    ("Credit", "Adjustment", "OnDemand", None, "2025-03-01 00:00:00", None, 0.0,
     "-3.0000", "-3.0000", "-3.0000", "-3.0000", "0", "AmazonEC2", None),
]


def _hand_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(schema.create_table_sql("cost_line_items"))
    for (lit, cat, po, arn, start, usage_type, amount, unb, net_unb, am, net_am, pub, service, unit) in HAND_ROWS:
        con.execute(
            "INSERT INTO cost_line_items (billing_period, usage_start, usage_date, payer_account_id, usage_account_id, "
            "usage_account_name, service_code, service_name, region, usage_type, line_item_type, charge_category, "
            "purchase_option, commitment_arn, commitment_type, pricing_unit, usage_amount, currency, unblended_cost, "
            "net_unblended_cost, amortized_cost, net_amortized_cost, public_on_demand_cost, tags, source_format, "
            "source_file, delivery_id) VALUES ($p, $s, CAST($s AS DATE), '111111111111', '210000000001', 'storefront-prod', "
            "$svc, NULL, 'us-east-1', $ut, $lit, $cat, $po, $arn, CASE WHEN $arn IS NULL THEN NULL ELSE 'ComputeSavingsPlans' END, "
            "$unit, $amt, 'USD', $u, $nu, $a, $na, $pub, MAP {'team': 'checkout'}, 'cur2-parquet', 'hand', 'd1')",
            {"p": PERIOD, "s": start, "svc": service, "ut": usage_type, "lit": lit, "cat": cat, "po": po, "arn": arn,
             "unit": unit, "amt": amount, "u": D(unb), "nu": D(net_unb), "a": D(am), "na": D(net_am), "pub": D(pub)},
        )


def test_hand_rows_map_to_focus_as_the_spec_wants():
    con = duck.connect()
    _hand_table(con)
    rows = focus_relation(con, PERIOD).pl()
    # One row per line item plus one companion per purchase with an amortized part (SP fee, RIFee).
    assert rows.height == len(HAND_ROWS) + 2
    purchases = rows.filter(pl.col("ChargeCategory") == "Purchase")
    assert purchases["EffectiveCost"].to_list() == [D(0), D(0)]
    unused = rows.filter(pl.col("CommitmentDiscountStatus") == "Unused").sort("x_LineItemType")
    assert unused["x_LineItemType"].to_list() == ["RIFee", "SavingsPlanRecurringFee"]
    assert unused["EffectiveCost"].to_list() == [D("10"), D("0.04")]
    assert unused["BilledCost"].to_list() == [D(0), D(0)]
    assert unused["ChargeCategory"].to_list() == ["Usage", "Usage"]
    assert unused["ConsumedQuantity"].to_list() == [None, None]
    # Unused RI hours: 744 fee hours x 10/50 unused share.
    assert unused["CommitmentDiscountQuantity"].to_list() == [pytest.approx(148.8), pytest.approx(0.04)]
    # Totals: billed = net unblended 0.19+0.096-0.096+0.095+50+5-3; effective = net amortized.
    assert sum(rows["BilledCost"]) == D("52.2850")
    assert sum(rows["EffectiveCost"]) == D("0.19") + D("0.057") + D("0.04") + D("10") + D("5") - D("3")
    usage = rows.filter(pl.col("x_LineItemType") == "Usage").row(0, named=True)
    assert usage["ChargePeriodStart"] == datetime(2025, 3, 2, 5)
    assert usage["ChargePeriodEnd"] == datetime(2025, 3, 2, 6)
    assert usage["PricingUnit"] == "Hours" and usage["PricingQuantity"] == 2.0
    assert usage["ListUnitPrice"] == pytest.approx(0.1) and usage["ContractedUnitPrice"] == pytest.approx(0.1)
    assert (usage["ServiceCategory"], usage["ServiceSubcategory"]) == ("Compute", "Virtual Machines")
    assert usage["RegionName"] == "US East (N. Virginia)"
    assert usage["PricingCategory"] == "Standard" and usage["Tags"] == '{"team":"checkout"}'
    tax = rows.filter(pl.col("ChargeCategory") == "Tax").row(0, named=True)
    assert tax["ChargePeriodEnd"] == datetime(2025, 4, 1)
    assert tax["PricingQuantity"] is None and tax["SkuId"] is None and tax["PricingCategory"] is None
    negation = rows.filter(pl.col("x_LineItemType") == "SavingsPlanNegation").row(0, named=True)
    assert negation["BilledCost"] == D("-0.096") and negation["ContractedCost"] == D(0)
    assert negation["ContractedUnitPrice"] == 0.0
    covered = rows.filter(pl.col("x_LineItemType") == "SavingsPlanCoveredUsage").row(0, named=True)
    assert (covered["CommitmentDiscountCategory"], covered["CommitmentDiscountStatus"]) == ("Spend", "Used")
    assert covered["PricingCategory"] == "Committed"
    credit = rows.filter(pl.col("x_LineItemType") == "Credit").row(0, named=True)
    assert credit["ChargeCategory"] == "Adjustment" and credit["ChargeFrequency"] == "One-Time"


def test_daily_deliveries_end_charges_after_a_day():
    con = duck.connect()
    _hand_table(con)
    con.execute("UPDATE cost_line_items SET usage_start = date_trunc('day', usage_start)")
    ends = focus_relation(con, PERIOD).filter("x_LineItemType = 'Usage'").pl()["ChargePeriodEnd"].to_list()
    assert ends == [datetime(2025, 3, 3)]


@pytest.fixture(scope="module")
def cur2_month(tmp_path_factory):
    root = tmp_path_factory.mktemp("focus-cur2")
    generate(str(root / "src"), [PERIOD], 10000, seed=11, fmt="cur2-parquet", business_metrics=False)
    [delivery] = discover(str(root / "src"))
    return root, delivery


def _canonical(con: duckdb.DuckDBPyConnection, delivery) -> None:
    with ingest_errors():
        read_delivery(con, delivery).create("cost_line_items")


@pytest.mark.parametrize("fmt", ["cur2-parquet", "legacy-parquet"])
def test_export_published_to_the_lake_reads_back_the_same_everywhere(tmp_path, fmt):
    generate(str(tmp_path / "src"), [PERIOD], 10000, seed=5, fmt=fmt, business_metrics=False)
    [delivery] = discover(str(tmp_path / "src"))
    con = duck.connect()
    _canonical(con, delivery)
    result = lake.publish_partition(con, focus_relation(con, PERIOD), str(tmp_path / "lake"), "focus_1_2", PERIOD)
    expected = source_totals(delivery)  # the raw files' own totals, computed with pyarrow
    net = con.execute("SELECT sum(net_unblended_cost), sum(net_amortized_cost), sum(public_on_demand_cost) "
                      "FROM cost_line_items").fetchall()[0]
    files = list(result.files)

    by_duckdb = duckdb.connect().execute(
        "SELECT sum(BilledCost), sum(EffectiveCost), sum(ListCost), sum(x_UnblendedCost), sum(x_AmortizedCost), "
        "count(*) FILTER (WHERE x_RowKind = 'LineItem') FROM read_parquet($f)", {"f": files}).fetchall()[0]
    frame = pl.read_parquet(files)
    by_polars = tuple(frame[c].sum() for c in ("BilledCost", "EffectiveCost", "ListCost", "x_UnblendedCost", "x_AmortizedCost")) + (
        frame.filter(pl.col("x_RowKind") == "LineItem").height,)
    table = ds.dataset(files, format="parquet").to_table()
    by_arrow = tuple(pc.sum(table[c]).as_py() for c in ("BilledCost", "EffectiveCost", "ListCost", "x_UnblendedCost", "x_AmortizedCost")) + (
        pc.sum(pc.equal(table["x_RowKind"], "LineItem")).as_py(),)

    assert by_duckdb == by_polars == by_arrow
    assert by_duckdb[:3] == net
    assert (by_duckdb[3], by_duckdb[4], by_duckdb[5]) == (expected["unblended_cost"], expected["amortized_cost"], expected["rows"])


def test_csv_export_writes_focus_text_dates(tmp_path, cur2_month):
    _, delivery = cur2_month
    con = duck.connect()
    _canonical(con, delivery)
    path = str(tmp_path / "focus.csv")
    rows = write_focus(con, focus_relation(con, PERIOD), path, "csv")
    text = pl.read_csv(path, infer_schema=False)
    assert text.height == rows
    assert text["ChargePeriodStart"].str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()
    assert text["BillingPeriodStart"].unique().to_list() == ["2025-03-01T00:00:00Z"]
    billed = duckdb.connect().execute("SELECT sum(CAST(BilledCost AS DECIMAL(18,10))) FROM read_csv($p, all_varchar=true)",
                                      {"p": path}).fetchall()[0][0]
    assert billed == con.execute("SELECT sum(net_unblended_cost) FROM cost_line_items").fetchall()[0][0]


def test_unknown_file_format_is_refused(tmp_path):
    con = duck.connect()
    _hand_table(con)
    with pytest.raises(ValueError, match="'xlsx' is not one of"):
        write_focus(con, focus_relation(con, PERIOD), str(tmp_path / "x.xlsx"), "xlsx")
