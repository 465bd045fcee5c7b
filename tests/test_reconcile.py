"""source_totals (pyarrow, no DuckDB) against read_delivery (DuckDB SQL) on the same files."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

import cur_builders as cb
from transforms import duck, schema
from transforms.discover import discover
from transforms.readers import ingest_errors, read_delivery
from transforms.reconcile import source_totals

TOLERANCE = D("1e-6")
TYPES = sorted(schema.LINE_ITEM_TYPES)


def random_rows(n: int, seed: int) -> list[dict]:
    """Rows of every line item type with every column the amortized formula reads, 10-decimal costs."""
    rng = random.Random(seed)

    def money() -> float:
        return round(rng.uniform(-50, 500), rng.choice([2, 6, 10]))

    rows = []
    for i in range(n):
        type_ = rng.choice(TYPES)
        rows.append(cb.cur2_row(
            "2025-03",
            identity_line_item_id=f"id{i}",
            line_item_line_item_type=type_,
            line_item_unblended_cost=money(),
            line_item_net_unblended_cost=money() if rng.random() < 0.5 else None,
            savings_plan_savings_plan_effective_cost=money(),
            savings_plan_total_commitment_to_date=money(),
            savings_plan_used_commitment=money(),
            reservation_effective_cost=money(),
            reservation_unused_amortized_upfront_fee_for_billing_period=money() if rng.random() < 0.8 else None,
            reservation_unused_recurring_fee=money(),
            reservation_reservation_a_r_n=rng.choice([None, "", "arn:aws:ec2:us-east-1:1:ri/x"]),
        ))
    return rows


def duck_totals(delivery) -> tuple[dict, dict]:
    rel = read_delivery(duck.connect(), delivery)
    with ingest_errors():
        ((n, unblended, amortized),) = rel.aggregate("count(*), sum(unblended_cost), sum(amortized_cost)").fetchall()
        by_type = {t: (c, u, a) for t, c, u, a in rel.aggregate(
            "line_item_type, count(*), sum(unblended_cost), sum(amortized_cost)").fetchall()}
    return {"rows": n, "unblended_cost": unblended, "amortized_cost": amortized}, by_type


@pytest.mark.parametrize("writer", ["parquet", "csv"])
def test_source_totals_agree_with_read_delivery(tmp_path, writer):
    rows = random_rows(6000, seed=7)
    if writer == "parquet":
        cb.write_cur2_parquet(tmp_path, "2025-03", rows, n_files=3)
    else:
        cb.write_cur2_csv(tmp_path, "2025-03", rows)
    (d,) = discover(str(tmp_path))
    got = source_totals(d)
    want, by_type = duck_totals(d)
    assert got["rows"] == want["rows"] == len(rows)
    assert abs(got["unblended_cost"] - want["unblended_cost"]) <= TOLERANCE
    assert abs(got["amortized_cost"] - want["amortized_cost"]) <= TOLERANCE
    assert set(got["by_line_item_type"]) == set(by_type) == set(TYPES)
    for type_, (count, unblended, amortized) in by_type.items():
        mine = got["by_line_item_type"][type_]
        assert mine["rows"] == count
        assert abs(mine["unblended_cost"] - unblended) <= TOLERANCE, type_
        assert abs(mine["amortized_cost"] - amortized) <= TOLERANCE, type_
    # Amortized really differs from unblended here, so the comparison exercises the formula.
    assert abs(got["amortized_cost"] - got["unblended_cost"]) > 1000


def test_text_costs_round_like_the_canonical_decimal(tmp_path):
    """CSV text with more than 10 decimals rounds half away from zero, in both legs."""
    costs = ["0.00000000005", "-0.00000000005", "0.00000000015", "2.5E-10", "1.23456789012345"]
    rows = [cb.legacy_csv_row(**{"identity/LineItemId": f"c{i}", "lineItem/UnblendedCost": c}) for i, c in enumerate(costs)]
    cb.write_legacy_csv(tmp_path / "cur.csv", rows)
    (d,) = discover(str(tmp_path))
    # by hand: 1E-10, -1E-10, 2E-10, 3E-10, 1.2345678901
    want = D("0.0000000001") - D("0.0000000001") + D("0.0000000002") + D("0.0000000003") + D("1.2345678901")
    assert source_totals(d)["unblended_cost"] == want
    assert duck_totals(d)[0]["unblended_cost"] == want


def test_optional_columns_absent(tmp_path):
    """A legacy month without any reservation or savings plan column: absent columns count as 0."""
    rows = [
        cb.legacy_parquet_row("2024-11", line_item_line_item_type="Usage", line_item_unblended_cost=3.25),
        cb.legacy_parquet_row("2024-11", line_item_line_item_type="RIFee", line_item_unblended_cost=7.0),
        cb.legacy_parquet_row("2024-11", line_item_line_item_type="Tax", line_item_unblended_cost=0.5),
    ]
    cb.write_legacy_parquet(tmp_path, "2024-11", rows)
    (d,) = discover(str(tmp_path))
    totals = source_totals(d)
    # RIFee amortizes to its unused fees, both absent -> 0: 3.25 + 0 + 0.5
    assert (totals["rows"], totals["unblended_cost"], totals["amortized_cost"]) == (3, D("10.75"), D("3.75"))
    assert duck_totals(d)[0] == {"rows": 3, "unblended_cost": D("10.75"), "amortized_cost": D("3.75")}
