"""CUR 2.0 Parquet and CSV -> cost_line_items, every line item type, values worked out by hand.

Expected amortized / net amortized per row come from the table in FINOPS_DEFINITIONS.md applied
by hand to the numbers written in the row (comment next to each).
"""

from __future__ import annotations

import gzip
from datetime import date, datetime, timezone
from decimal import Decimal as D

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cur_builders as cb
from transforms import duck, schema
from transforms.discover import discover
from transforms.readers import ingest_errors, read_delivery
from transforms.reconcile import source_totals

SP1 = "arn:aws:savingsplans::111111111111:savingsplan/sp-1"
SP2 = "arn:aws:savingsplans::111111111111:savingsplan/sp-2"
RI1 = "arn:aws:rds:us-east-1:111111111111:ri:ri-1"
RI2 = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-2"

# id, input columns, then expected: charge_category, purchase_option, commitment_type,
# unblended, net_unblended, amortized, net_amortized, instance_family, processor
CASES = [
    ("r01", dict(line_item_line_item_type="Usage", line_item_usage_type="USE1-BoxUsage:m7g.large",
                 product_instance_type="m7g.large", line_item_unblended_cost=1.25, line_item_net_unblended_cost=1.10,
                 pricing_public_on_demand_cost=1.25,
                 product={"physical_processor": "AWS Graviton3 Processor", "product_name": "Amazon Elastic Compute Cloud",
                          "operating_system": "Linux", "region": "us-east-1"}),
     "Usage", "OnDemand", None, "1.25", "1.10", "1.25", "1.10", "m7g", "Graviton"),  # else-branch: unblended / net
    ("r02", dict(line_item_line_item_type="Usage", line_item_usage_type="USE1-SpotUsage:c7i.xlarge",
                 product_instance_type="c7i.xlarge", line_item_unblended_cost=0.40, pricing_public_on_demand_cost=0.90,
                 product={"physical_processor": "Intel Xeon Scalable (Sapphire Rapids)"}),
     "Usage", "Spot", None, "0.40", "0.40", "0.40", "0.40", "c7i", "Intel"),  # net absent -> gross
    ("r03", dict(line_item_line_item_type="DiscountedUsage", line_item_product_code="AmazonRDS",
                 line_item_usage_type="USE1-InstanceUsage:db.r7g.large", product_instance_type="db.r7g.large",
                 line_item_unblended_cost=0.0, reservation_reservation_a_r_n=RI1, reservation_effective_cost=0.3125,
                 reservation_net_effective_cost=0.30, pricing_public_on_demand_cost=0.48,
                 product={"physical_processor": "AWS Graviton3"}),
     "Usage", "Reserved", "Reserved", "0", "0", "0.3125", "0.30", "r7g", "Graviton"),  # reservation_effective_cost
    ("r04", dict(line_item_line_item_type="SavingsPlanCoveredUsage", line_item_usage_type="USE1-BoxUsage:m6i.large",
                 product_instance_type="m6i.large", line_item_unblended_cost=0.096, savings_plan_savings_plan_a_r_n=SP1,
                 savings_plan_offering_type="ComputeSavingsPlans", savings_plan_savings_plan_effective_cost=0.0612,
                 pricing_public_on_demand_cost=0.096, product={"physical_processor": "Intel Xeon Platinum 8375C (Ice Lake)"}),
     "Usage", "SavingsPlan", "ComputeSavingsPlans", "0.096", "0.096", "0.0612", "0.0612", "m6i", "Intel"),
    ("r05", dict(line_item_line_item_type="SavingsPlanNegation", line_item_unblended_cost=-0.096,
                 savings_plan_savings_plan_a_r_n=SP1, savings_plan_offering_type="ComputeSavingsPlans"),
     "Usage", "SavingsPlan", "ComputeSavingsPlans", "-0.096", "-0.096", "0", "0", None, None),
    ("r06", dict(line_item_line_item_type="SavingsPlanRecurringFee", line_item_product_code="ComputeSavingsPlans",
                 line_item_unblended_cost=0.10, savings_plan_savings_plan_a_r_n=SP1,
                 savings_plan_offering_type="ComputeSavingsPlans", savings_plan_total_commitment_to_date=0.10,
                 savings_plan_used_commitment=0.0612),
     "Purchase", "SavingsPlan", "ComputeSavingsPlans", "0.10", "0.10", "0.0388", "0.0388", None, None),  # 0.10 - 0.0612
    ("r07", dict(line_item_line_item_type="SavingsPlanUpfrontFee", line_item_unblended_cost=876.0,
                 savings_plan_savings_plan_a_r_n=SP2, savings_plan_offering_type="EC2InstanceSavingsPlans"),
     "Purchase", "SavingsPlan", "EC2InstanceSavingsPlans", "876", "876", "0", "0", None, None),
    ("r08", dict(line_item_line_item_type="RIFee", line_item_product_code="AmazonRDS", line_item_unblended_cost=0.05,
                 reservation_reservation_a_r_n=RI1,
                 reservation_unused_amortized_upfront_fee_for_billing_period=0.0125,
                 reservation_unused_recurring_fee=0.0075,
                 reservation_net_unused_amortized_upfront_fee_for_billing_period=0.0120),
     "Purchase", "Reserved", "Reserved", "0.05", "0.05", "0.0200", "0.0195", None, None),  # 0.0125+0.0075; 0.0120+0.0075
    ("r09", dict(line_item_line_item_type="Fee", line_item_unblended_cost=1000.0, reservation_reservation_a_r_n=RI2),
     "Purchase", "Reserved", "Reserved", "1000", "1000", "0", "0", None, None),  # RI upfront fee
    ("r10", dict(line_item_line_item_type="Fee", line_item_product_code="AWSSupportBusiness",
                 line_item_unblended_cost=12.0, line_item_net_unblended_cost=11.4),
     "Purchase", "OnDemand", None, "12", "11.4", "12", "11.4", None, None),
    ("r11", dict(line_item_line_item_type="Credit", line_item_unblended_cost=-5.0),
     "Adjustment", "OnDemand", None, "-5", "-5", "-5", "-5", None, None),
    ("r12", dict(line_item_line_item_type="Refund", line_item_unblended_cost=-1.5),
     "Adjustment", "OnDemand", None, "-1.5", "-1.5", "-1.5", "-1.5", None, None),
    ("r13", dict(line_item_line_item_type="Tax", line_item_unblended_cost=2.34, line_item_net_unblended_cost=2.2),
     "Tax", "OnDemand", None, "2.34", "2.2", "2.34", "2.2", None, None),
    ("r14", dict(line_item_line_item_type="BundledDiscount", line_item_unblended_cost=-0.25),
     "Usage", "OnDemand", None, "-0.25", "-0.25", "-0.25", "-0.25", None, None),
    ("r15", dict(line_item_line_item_type="EdpDiscount", line_item_unblended_cost=-0.75),
     "Usage", "OnDemand", None, "-0.75", "-0.75", "-0.75", "-0.75", None, None),
    ("r16", dict(line_item_line_item_type="PrivateRateDiscount", line_item_unblended_cost=-0.2),
     "Usage", "OnDemand", None, "-0.2", "-0.2", "-0.2", "-0.2", None, None),
    ("r17", dict(line_item_line_item_type="RiVolumeDiscount", line_item_unblended_cost=-0.1),
     "Usage", "OnDemand", None, "-0.1", "-0.1", "-0.1", "-0.1", None, None),
    ("r18", dict(line_item_line_item_type="SppDiscount", line_item_unblended_cost=-0.05),
     "Usage", "OnDemand", None, "-0.05", "-0.05", "-0.05", "-0.05", None, None),
    ("r19", dict(line_item_line_item_type="Discount", line_item_unblended_cost=-0.01),
     "Usage", "OnDemand", None, "-0.01", "-0.01", "-0.01", "-0.01", None, None),
    ("r20", dict(line_item_line_item_type="Usage", line_item_product_code="AWSLambda",
                 line_item_usage_type="USE1-Lambda-GB-Second-ARM", line_item_unblended_cost=0.0000166667),
     "Usage", "OnDemand", None, "0.0000166667", "0.0000166667", "0.0000166667", "0.0000166667", None, "Graviton"),
    ("r21", dict(line_item_line_item_type="Usage", line_item_product_code="AmazonElastiCache",
                 line_item_usage_type="USE1-NodeUsage:cache.m6g.large", product_instance_type="cache.m6g.large",
                 line_item_unblended_cost=0.149),
     "Usage", "OnDemand", None, "0.149", "0.149", "0.149", "0.149", "m6g", None),
    ("r22", dict(line_item_line_item_type="Usage", line_item_product_code="AmazonECS",
                 line_item_usage_type="USE1-Fargate-ARM-vCPU-Hours:perCPU", line_item_unblended_cost=0.03238),
     "Usage", "OnDemand", None, "0.03238", "0.03238", "0.03238", "0.03238", None, "Graviton"),
    ("r23", dict(line_item_line_item_type="Usage", line_item_usage_type="USE1-DedicatedUsage:mac2-m2pro.metal",
                 product_instance_type="mac2-m2pro.metal", line_item_unblended_cost=1.56,
                 product={"physical_processor": "Apple M2 Pro"}),
     "Usage", "OnDemand", None, "1.56", "1.56", "1.56", "1.56", "mac2-m2pro", "Other"),
]

R01_TAGS = {" user_Product ": "storefront", "aws:createdBy": "AIDAEXAMPLE", "user_Team": "checkout",
            "user_environment": "", "user_owner-team": "payments", "user_team": "search"}


def rows() -> list[dict]:
    out = []
    for case_id, values, *_ in CASES:
        extra = {}
        if case_id == "r01":
            extra = dict(resource_tags=R01_TAGS, cost_category={"team": "checkout", "unset": ""},
                         line_item_availability_zone="us-east-1a", line_item_operation="RunInstances",
                         line_item_resource_id="i-0abc", line_item_usage_account_name="storefront-prod",
                         product_product_family="Compute Instance", product_region_code="us-east-1",
                         pricing_unit="Hrs", line_item_usage_amount=1.0)
        out.append(cb.cur2_row("2025-01", identity_line_item_id=case_id, **values, **extra))
    return out


@pytest.fixture(scope="module", params=["cur2-parquet", "cur2-csv"])
def delivery(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    if request.param == "cur2-parquet":
        cb.write_cur2_parquet(root, "2025-01", rows(), n_files=3)
    else:
        cb.write_cur2_csv(root, "2025-01", rows())
    (d,) = discover(str(root))
    assert d.format == request.param
    return d


_FETCHED: dict[str, dict[str, dict]] = {}


def fetch(delivery) -> dict[str, dict]:
    """The delivery's rows by line item id (read once per delivery: the files do not change)."""
    if delivery.fingerprint not in _FETCHED:
        with ingest_errors():
            records = read_delivery(duck.connect(), delivery).to_dicts()
        _FETCHED[delivery.fingerprint] = {r["line_item_id"]: r for r in records}
    return _FETCHED[delivery.fingerprint]


def test_schema_names_order_and_types(delivery):
    rel = read_delivery(duck.connect(), delivery)
    assert rel.columns == list(schema.COLUMN_NAMES)
    assert [str(t) for t in rel.types] == [c.type for c in schema.COST_LINE_ITEMS]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_line_item_type(delivery, case):
    case_id, _, category, option, ctype, unblended, net_unblended, amortized, net_amortized, family, processor = case
    row = fetch(delivery)[case_id]
    assert row["charge_category"] == category
    assert row["purchase_option"] == option
    assert row["commitment_type"] == ctype
    assert row["unblended_cost"] == D(unblended)
    assert row["net_unblended_cost"] == D(net_unblended)
    assert row["amortized_cost"] == D(amortized)
    assert row["net_amortized_cost"] == D(net_amortized)
    assert row["instance_family"] == family
    assert row["processor"] == processor


def test_all_line_item_types_covered():
    assert {c[1]["line_item_line_item_type"] for c in CASES} == schema.LINE_ITEM_TYPES


def test_totals_match_hand_sums_and_source_totals(delivery):
    want_unblended = sum(D(c[5]) for c in CASES)
    want_amortized = sum(D(c[7]) for c in CASES)
    assert want_unblended == D("1886.0213966667") and want_amortized == D("10.3038966667")  # added up by hand
    con = duck.connect()
    rel = read_delivery(con, delivery)
    with ingest_errors():
        ((n, unblended, amortized),) = rel.aggregate("count(*), sum(unblended_cost), sum(amortized_cost)").fetchall()
    assert (n, unblended, amortized) == (len(CASES), want_unblended, want_amortized)
    totals = source_totals(delivery)
    assert totals["rows"] == len(CASES)
    assert totals["unblended_cost"] == want_unblended
    assert totals["amortized_cost"] == want_amortized
    assert totals["by_line_item_type"]["Fee"] == {"rows": 2, "unblended_cost": D("1012"), "amortized_cost": D("12")}
    assert totals["by_line_item_type"]["RIFee"]["amortized_cost"] == D("0.02")


def test_descriptive_columns_and_tags(delivery):
    r = fetch(delivery)["r01"]
    assert r["billing_period"] == "2025-01"
    assert r["usage_start"] == datetime(2025, 1, 3, 5, 0)
    assert r["usage_date"] == date(2025, 1, 3)
    assert (r["payer_account_id"], r["usage_account_id"], r["usage_account_name"]) == (
        "111111111111", "210000000001", "storefront-prod")
    assert (r["service_code"], r["service_name"], r["region"], r["availability_zone"]) == (
        "AmazonEC2", "Amazon Elastic Compute Cloud", "us-east-1", "us-east-1a")
    assert (r["usage_type"], r["operation"], r["resource_id"]) == ("USE1-BoxUsage:m7g.large", "RunInstances", "i-0abc")
    assert (r["product_family"], r["instance_type"], r["operating_system"]) == ("Compute Instance", "m7g.large", "Linux")
    assert (r["pricing_unit"], r["usage_amount"], r["currency"]) == ("Hrs", 1.0, "USD")
    assert r["public_on_demand_cost"] == D("1.25")
    # user_Team sorts before user_team, so its value wins; the empty environment tag is dropped.
    assert r["tags"] == {"aws_createdby": "AIDAEXAMPLE", "owner-team": "payments", "product": "storefront", "team": "checkout"}
    assert r["cost_category"] == {"team": "checkout"}
    assert r["source_format"] == delivery.format
    assert r["delivery_id"] == "exec-0001"
    assert r["source_file"] in {f.path for f in delivery.files}
    r03 = fetch(delivery)["r03"]
    assert r03["commitment_arn"] == RI1 and r03["public_on_demand_cost"] == D("0.48")
    assert fetch(delivery)["r11"]["public_on_demand_cost"] == D("0")  # absent -> 0
    assert fetch(delivery)["r11"]["tags"] == {}


def test_timestamps_with_time_zone_become_utc(tmp_path):
    """A Parquet writer that stores TIMESTAMP WITH TIME ZONE: values land in UTC without zone."""
    schema_tz = pa.schema([
        pa.field(f.name, pa.timestamp("ms", tz="America/New_York")) if f.name == "line_item_usage_start_date" else f
        for f in cb.CUR2_SCHEMA
    ])
    row = cb.cur2_row("2025-01", identity_line_item_id="tz",
                      line_item_usage_start_date=datetime(2025, 1, 3, 5, 0, tzinfo=timezone.utc))
    path = cb.cur2_paths(tmp_path, "2025-01")[0]
    path.parent.mkdir(parents=True)
    pq.write_table(cb.cur2_table([row], schema_tz), path)
    (d,) = discover(str(tmp_path))
    with ingest_errors():
        ((start, day),) = read_delivery(duck.connect(), d).project("usage_start, usage_date").fetchall()
    assert (start, day) == (datetime(2025, 1, 3, 5, 0), date(2025, 1, 3))


def test_csv_offsets_and_scientific_costs(tmp_path):
    """CSV text: an explicit UTC offset is honoured; '1.5E-7' is parsed exactly as a decimal."""
    row = cb.cur2_row("2025-01", identity_line_item_id="x", line_item_unblended_cost="1.5E-7")
    cb.write_cur2_csv(tmp_path, "2025-01", [row])
    path = next(tmp_path.rglob("*.csv.gz"))
    text = gzip.decompress(path.read_bytes()).decode().replace("2025-01-03T05:00:00.000Z", "2025-01-03T07:00:00+02:00")
    path.write_bytes(gzip.compress(text.encode()))
    (d,) = discover(str(tmp_path))
    with ingest_errors():
        ((start, cost),) = read_delivery(duck.connect(), d).project("usage_start, unblended_cost").fetchall()
    assert start == datetime(2025, 1, 3, 5, 0)
    assert cost == D("0.00000015")


def test_read_delivery_is_lazy(tmp_path):
    """Only schemas are read up front: rows rewritten after read_delivery are the ones returned."""
    (path,) = cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row(line_item_unblended_cost=1.0)])
    (d,) = discover(str(tmp_path))
    rel = read_delivery(duck.connect(), d)
    pq.write_table(cb.cur2_table([cb.cur2_row(line_item_unblended_cost=2.5)] * 2), path)
    with ingest_errors():
        assert rel.aggregate("count(*), sum(unblended_cost)").fetchall() == [(2, D("5"))]
