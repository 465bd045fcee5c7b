"""Legacy CUR (CSV and Athena Parquet) -> cost_line_items."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

import pyarrow as pa
import pytest

import cur_builders as cb
from transforms import duck, schema
from transforms.discover import discover
from transforms.readers import IngestError, ingest_errors, read_delivery
from transforms.reconcile import source_totals


def read(delivery) -> dict[str, dict]:
    with ingest_errors():
        return {r["line_item_id"]: r for r in read_delivery(duck.connect(), delivery).to_dicts()}


def test_real_legacy_csv_fixture_totals():
    (d,) = discover(str(cb.LEGACY_CSV_FIXTURE.parent))
    assert (d.format, d.billing_period, d.manifest) == ("legacy-csv", "2023-11", None)
    rel = read_delivery(duck.connect(), d)
    assert rel.columns == list(schema.COLUMN_NAMES)
    with ingest_errors():
        by_type = dict(
            (t, (n, u, a))
            for t, n, u, a in rel.aggregate("line_item_type, count(*), sum(unblended_cost), sum(amortized_cost)").fetchall()
        )
        ((unblended, amortized, net_amortized),) = rel.aggregate(
            "sum(unblended_cost), sum(amortized_cost), sum(net_amortized_cost)").fetchall()
    # Known totals of the FinOps Foundation sample: 1.682309 USD unblended, of which Tax 0.08.
    assert round(unblended, 6) == D("1.682309")
    assert by_type["Tax"][1] == D("0.08")
    assert set(by_type) == {"Tax", "Usage"}
    assert amortized == unblended == net_amortized  # only Usage and Tax rows, no net columns
    totals = source_totals(d)
    assert totals["rows"] == 1281 == sum(n for n, _, _ in by_type.values())
    assert abs(totals["unblended_cost"] - unblended) <= D("1e-6")
    assert abs(totals["amortized_cost"] - amortized) <= D("1e-6")
    assert totals["by_line_item_type"]["Tax"]["unblended_cost"] == D("0.08")


def test_real_legacy_csv_fixture_mapping():
    (d,) = discover(str(cb.LEGACY_CSV_FIXTURE))  # a single file works as a source too
    rows = read(d)
    tax = rows["qmooz4hg3jabcdabcdabcdabcdabcdabcdabcdabcjqpgg7ep3a"]  # first data line of the file
    assert (tax["line_item_type"], tax["charge_category"], tax["service_code"], tax["service_name"]) == (
        "Tax", "Tax", "AWSCloudTrail", "AWS CloudTrail")
    assert (tax["payer_account_id"], tax["usage_account_id"], tax["currency"]) == ("123412340534", "123412340534", "USD")
    assert tax["usage_start"] == datetime(2023, 11, 1)
    regions = {r["region"] for r in rows.values()}
    assert {"us-east-1", "ca-central-1", "eu-north-1"} <= regions


def _legacy_csv_rows() -> list[dict]:
    return [
        cb.legacy_csv_row(**{
            "identity/LineItemId": "c1", "lineItem/LineItemType": "SavingsPlanCoveredUsage",
            "lineItem/UsageType": "USE1-BoxUsage:m7g.xlarge", "product/instanceType": "m7g.xlarge",
            "product/physicalProcessor": "AWS Graviton3 Processor", "product/ProductName": "Amazon Elastic Compute Cloud",
            "product/regionCode": "us-east-1", "lineItem/UnblendedCost": "0.1632",
            "savingsPlan/SavingsPlanARN": "arn:aws:savingsplans::111111111111:savingsplan/sp-9",
            "savingsPlan/OfferingType": "EC2InstanceSavingsPlans", "savingsPlan/SavingsPlanEffectiveCost": "0.1010",
            "resourceTags/user:Team": "search", "resourceTags/user:team": "checkout",
            "resourceTags/aws:createdBy": "AROAEXAMPLE", "costCategory/Owner": "storefront",
        }),
        cb.legacy_csv_row(**{
            "identity/LineItemId": "c2", "lineItem/LineItemType": "RIFee", "lineItem/ProductCode": "AmazonEC2",
            "lineItem/UnblendedCost": "30.00", "reservation/ReservationARN": "arn:aws:ec2:us-east-1:111111111111:ri/ri-9",
            "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod": "1.2345678901",
            "reservation/UnusedRecurringFee": "2.5",
        }),
        cb.legacy_csv_row(**{"identity/LineItemId": "c3", "lineItem/LineItemType": "Credit",
                             "lineItem/UnblendedCost": "-0.0000000001", "resourceTags/user:Team": ""}),
    ]


def test_constructed_legacy_csv_gz(tmp_path):
    path = cb.write_legacy_csv(tmp_path / "cur" / "20241001-20241101" / "report-1.csv.gz", _legacy_csv_rows())
    (d,) = discover(str(tmp_path))
    assert (d.format, d.billing_period, [f.path for f in d.files]) == ("legacy-csv", "2024-10", [str(path)])
    rows = read(d)
    c1, c2, c3 = rows["c1"], rows["c2"], rows["c3"]
    assert c1["usage_account_id"] == "012345678901"  # leading zero kept: CSV read as text
    assert (c1["purchase_option"], c1["commitment_type"], c1["instance_family"], c1["processor"]) == (
        "SavingsPlan", "EC2InstanceSavingsPlans", "m7g", "Graviton")
    assert (c1["service_name"], c1["region"]) == ("Amazon Elastic Compute Cloud", "us-east-1")
    assert (c1["unblended_cost"], c1["amortized_cost"]) == (D("0.1632"), D("0.1010"))
    # user:Team < user:team in code-point order, so 'search' wins.
    assert c1["tags"] == {"team": "search", "aws_createdby": "AROAEXAMPLE"}
    assert c1["cost_category"] == {"Owner": "storefront"}
    assert (c2["charge_category"], c2["purchase_option"], c2["amortized_cost"]) == (
        "Purchase", "Reserved", D("3.7345678901"))  # 1.2345678901 + 2.5
    assert c3["unblended_cost"] == D("-1E-10") and c3["tags"] == {}
    totals = source_totals(d)
    assert totals["unblended_cost"] == D("30.1631999999")  # 0.1632 + 30 - 0.0000000001
    assert totals["amortized_cost"] == D("3.8355678900")  # 0.1010 + 3.7345678901 - 0.0000000001


def test_legacy_parquet_columns_drift_between_months(tmp_path):
    nov = [
        cb.legacy_parquet_row("2024-11", identity_line_item_id="n1", line_item_unblended_cost=2.5,
                              line_item_net_unblended_cost=2.25, product_physical_processor="Intel Xeon Platinum 8488C",
                              product_instance_type="m7i.large", resource_tags_user_team="ads",
                              product_product_name="Amazon Elastic Compute Cloud", product_region="eu-west-1"),
    ]
    # December: no processor and no net column; tags differ between the month's two files, and the
    # second file stores account ids as integers (an Athena CTAS does that).
    dec_a = [cb.legacy_parquet_row("2024-12", identity_line_item_id="d1", line_item_unblended_cost=4.0,
                                   resource_tags_user_cost_center="CC-3001", product_instance_type="r6g.large")]
    dec_b = [cb.legacy_parquet_row("2024-12", identity_line_item_id="d2", line_item_unblended_cost=0.5,
                                   line_item_usage_account_id=12345678901, resource_tags_user_environment="prod",
                                   resource_tags_user_cost_center=None)]
    cb.write_legacy_parquet(tmp_path, "2024-11", nov)
    cb.write_legacy_parquet(tmp_path, "2024-12", dec_a)
    cb.write_legacy_parquet(tmp_path, "2024-12", dec_b, name="legacy-cur-00002.snappy.parquet",
                            types={"line_item_usage_account_id": pa.int64(), "resource_tags_user_cost_center": pa.string()})
    d_nov, d_dec = discover(str(tmp_path))
    assert (d_nov.format, d_nov.billing_period, d_dec.billing_period, len(d_dec.files)) == (
        "legacy-parquet", "2024-11", "2024-12", 2)
    n1 = read(d_nov)["n1"]
    assert (n1["processor"], n1["instance_family"], n1["service_name"], n1["region"]) == (
        "Intel", "m7i", "Amazon Elastic Compute Cloud", "eu-west-1")
    assert (n1["unblended_cost"], n1["net_unblended_cost"], n1["net_amortized_cost"]) == (D("2.5"), D("2.25"), D("2.25"))
    assert n1["tags"] == {"team": "ads"}
    dec = read(d_dec)
    assert (dec["d1"]["processor"], dec["d1"]["net_unblended_cost"], dec["d1"]["tags"]) == (
        None, D("4"), {"cost_center": "CC-3001"})
    assert dec["d2"]["tags"] == {"environment": "prod"}
    assert dec["d2"]["usage_account_id"] == "012345678901"
    assert dec["d2"]["source_file"].endswith("legacy-cur-00002.snappy.parquet")
    for d, want in ((d_nov, D("2.5")), (d_dec, D("4.5"))):
        totals = source_totals(d)
        assert totals["unblended_cost"] == totals["amortized_cost"] == want


@pytest.mark.parametrize("fmt", ["legacy-parquet", "legacy-csv"])
def test_legacy_rows_of_another_period_fail(tmp_path, fmt):
    if fmt == "legacy-parquet":
        path = cb.write_legacy_parquet(tmp_path, "2024-11", [
            cb.legacy_parquet_row("2024-11", identity_line_item_id="ok"),
            cb.legacy_parquet_row("2024-12", identity_line_item_id="late"),
        ])
        row = "row 2"
    else:
        path = cb.write_legacy_csv(tmp_path / "any" / "where.csv", [
            cb.legacy_csv_row("2024-11", **{"identity/LineItemId": "ok"}),
            cb.legacy_csv_row("2024-12", **{"identity/LineItemId": "late"}),
        ])
        row = "line item late"
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError) as err, ingest_errors():
        read_delivery(duck.connect(), d).fetchall()
    message = str(err.value)
    assert str(path) in message and "2024-12" in message and "2024-11" in message and row in message
