"""Coverage, unallocated drivers, tag compliance, tag-key variants and the gates, on hand-built items.

The month (figures used below):
  day 1, shared account: a) alpha, fully tagged, 6.00; b) untagged r-a 0.50 and r-b 1.50;
         c) NAT 2.00 (pool net, proportional: all of it to alpha, the only team with cost that day)
  day 2, beta's account: d) untagged 3.00 (account owner beta); e) team tag 'betta' 1.00 (unknown);
         f) tax 0.50 (not taggable, account owner beta)
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from allocation_builders import ACCOUNT_BETA, ACCOUNT_SHARED, DAY1, DAY2, PERIOD, connect, insert, li, write_config
from transforms.allocation import (
    build_allocation_coverage,
    build_cost_allocation,
    build_tag_compliance,
    build_tag_key_variants,
    build_unallocated_drivers,
    check_allocated_once,
    check_conservation,
    check_coverage,
    check_owners_configured,
    checks,
)

RULES = """\
- name: nat
  match: {usage_type: 'NatGateway'}
  pool: net
"""
POOLS = "net: {recipients: all, method: proportional}\n"


@pytest.fixture
def con():
    c = connect()
    insert(c, [
        li("6", day=DAY1, resource_id="i-a", tags={
            "team": "alpha", "product": "p1", "environment": "prod",
            "prodcut": "p1", "enviroment": "prod", "name": "web", "aws_createdby": "me", "cost_center": "CC-1",
        }),
        li("0.5", day=DAY1, resource_id="r-a"),
        li("1.5", day=DAY1, resource_id="r-b"),
        li("2", day=DAY1, resource_id="nat-1", usage_type="USE1-NatGateway-Hours"),
        li("3", day=DAY2, account=ACCOUNT_BETA, resource_id="i-d"),
        li("1", day=DAY2, account=ACCOUNT_BETA, resource_id="i-e", tags={
            "team": "betta", "product": "p9", "env": "production", "Owner-Team ": "beta", "owner_team": "beta",
        }),
        li("0.5", day=DAY2, account=ACCOUNT_BETA, resource_id=None, line_item_type="Tax", charge_category="Tax"),
    ])
    yield c
    c.close()


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path, rules=RULES, pools=POOLS)


def test_coverage_per_day_month_and_account(con, config):
    coverage = build_allocation_coverage(con, build_cost_allocation(con, config, PERIOD)).filter("cost_basis = 'unblended'")
    rows = {
        (grain, day, account): (total, tag, account_cost, shared, unallocated, allocated, cov)
        for grain, day, account, total, tag, account_cost, shared, unallocated, allocated, cov in coverage.select(
            "period_grain, usage_date, usage_account_id, total_cost, tag_cost, account_cost, shared_cost, "
            "unallocated_cost, allocated_cost, coverage"
        ).fetchall()
    }
    d = Decimal
    assert rows[("day", DAY1, None)] == (d("10.00"), d("6.00"), d("0.00"), d("2.00"), d("2.00"), d("8.00"), 0.8)
    assert rows[("day", DAY2, None)][:6] == (d("4.50"), d("0.00"), d("3.50"), d("0.00"), d("1.00"), d("3.50"))
    assert rows[("day", DAY2, None)][6] == pytest.approx(3.5 / 4.5)
    assert rows[("month", None, None)][0] == d("14.50")
    assert rows[("month", None, None)][6] == pytest.approx(11.5 / 14.5)
    assert rows[("month", None, ACCOUNT_SHARED)][6] == 0.8
    assert rows[("month", None, ACCOUNT_BETA)][6] == pytest.approx(3.5 / 4.5)
    assert rows[("day", DAY1, ACCOUNT_SHARED)][0] == d("10.00")
    assert len(rows) == 2 + 2 + 1 + 2  # days, day x account, month, month x account


def test_coverage_warning_below_target(con, config, tmp_path):
    coverage = build_allocation_coverage(con, build_cost_allocation(con, config, PERIOD))
    warnings = check_coverage(con, config, coverage)
    assert len(warnings) == 3  # the month (79.3 %), day 1 (80 %) and day 2 (77.8 %) are below 90 %
    assert warnings[0].startswith(f"{PERIOD}: allocation coverage 79.3% (amortized) is below the target 90%")
    assert "3.00 of 14.50 unallocated" in warnings[0]
    relaxed = write_config(tmp_path, rules=RULES, pools=POOLS, extra="coverage: {target: 0.78}\n")
    assert check_coverage(con, relaxed, coverage) == [
        f"{PERIOD} {DAY2}: allocation coverage 77.8% (amortized) is below the target 78% of {relaxed.path}: "
        "1.00 of 4.50 unallocated"
    ]


def test_unallocated_drivers(con, config):
    rows = build_unallocated_drivers(con, config, PERIOD).select(
        "rank, service_code, usage_account_id, allocation_reason, unknown_team_value, unallocated_amortized_cost, "
        "share_of_unallocated, line_items, resources, top_resource_ids"
    ).fetchall()
    assert rows == [
        (1, "AmazonEC2", ACCOUNT_SHARED, "no_owner", None, Decimal("2.00"), pytest.approx(2 / 3), 2, 2, ["r-b", "r-a"]),
        (2, "AmazonEC2", ACCOUNT_BETA, "unknown_team_tag", "betta", Decimal("1.00"), pytest.approx(1 / 3), 1, 1, ["i-e"]),
    ]


def test_tag_compliance(con, config):
    rows = build_tag_compliance(con, config, PERIOD).select(
        "usage_account_id, required_tag, taggable_cost, tagged_cost, invalid_value_cost, missing_cost, line_items, compliance"
    ).fetchall()
    got = {(r[0], r[1]): r[2:] for r in rows}
    d = Decimal
    # Shared account: a (all valid) 6.00, b 2.00 and NAT 2.00 untagged. The tax line is not taggable.
    for tag in ("team", "product", "environment", "all_required"):
        assert got[(ACCOUNT_SHARED, tag)] == (d("10.00"), d("6.00"), d("0.00"), d("4.00"), 4, 0.6)
    # Beta's account: d untagged 3.00; e has team 'betta' and product 'p9' (invalid), env 'production' (alias).
    assert got[(ACCOUNT_BETA, "team")] == (d("4.00"), d("0.00"), d("1.00"), d("3.00"), 2, 0.0)
    assert got[(ACCOUNT_BETA, "product")] == (d("4.00"), d("0.00"), d("1.00"), d("3.00"), 2, 0.0)
    assert got[(ACCOUNT_BETA, "environment")] == (d("4.00"), d("1.00"), d("0.00"), d("3.00"), 2, 0.25)
    assert got[(ACCOUNT_BETA, "all_required")] == (d("4.00"), d("0.00"), d("1.00"), d("3.00"), 2, 0.0)
    assert len(got) == 8  # cost_center is not required


def test_tag_compliance_leaves_offsets_out_of_both_sides(config):
    """An untagged discount or credit that carries a resource id (AWS puts one on some) is not a
    resource's cost: counted in the taggable base only, it lowered the base and not the tagged
    cost, and compliance passed 1 (2.32 on the benchmark's month)."""
    c = connect()
    try:
        insert(c, [
            li("6", day=DAY1, resource_id="i-a", tags={"team": "alpha", "product": "p1", "environment": "prod"}),
            li("2", day=DAY1, resource_id="i-b"),  # untagged usage: in the base
            li("-3", day=DAY1, resource_id="i-a", line_item_type="EdpDiscount"),
            li("-1", day=DAY1, resource_id="i-b", line_item_type="Credit"),
        ])
        rows = build_tag_compliance(c, config, PERIOD).select("usage_account_id, required_tag, taggable_cost, tagged_cost, compliance").fetchall()
    finally:
        c.close()
    # Taggable 6 + 2 = 8 (the -3 and -1 offsets out), tagged 6: 0.75 for every required tag.
    assert {r[1]: r[2:] for r in rows} == {tag: (Decimal("8.00"), Decimal("6.00"), 0.75)
                                           for tag in ("team", "product", "environment", "all_required")}


def test_tag_key_variants(con, config):
    rows = build_tag_key_variants(con, config, PERIOD).select(
        "tag_key, required_tag, closest_key, match_kind, distance, line_items, amortized_cost"
    ).fetchall()
    assert rows == [
        ("enviroment", "environment", "environment", "edit_distance", 1, 1, Decimal("6.00")),
        ("prodcut", "product", "product", "edit_distance", 1, 1, Decimal("6.00")),
        ("Owner-Team ", "team", "owner-team", "case_or_whitespace", 0, 1, Decimal("1.00")),
        ("owner_team", "team", "owner-team", "separator", 1, 1, Decimal("1.00")),
    ]  # not 'name' (2 edits from 'team' is too many for a 4-letter key), not aws_ keys


# ------------------------------------------------------------------------------------------
# The gates fail when they should


def test_conservation_check_reports_the_day_and_basis(con, config):
    build_cost_allocation(con, config, PERIOD).create("ca")
    assert check_conservation(con, "ca") == []
    con.execute("UPDATE ca SET direct_amortized_cost = direct_amortized_cost + 0.01 WHERE allocation_method = 'tag'")
    con.execute("DELETE FROM ca WHERE usage_date = DATE '2025-01-02'")
    failures = check_conservation(con, "ca")
    assert failures[0] == (
        f"{PERIOD} {DAY1} USD amortized: cost_allocation sums to 10.01, cost_line_items to 10.00 "
        "(rounded to the cent); difference 0.01"
    )
    assert len(failures) == 4  # day 1 amortized; day 2 missing on all three bases
    assert all(f.startswith(f"{PERIOD} {DAY2} USD") and "sums to 0" in f for f in failures[1:])


def test_owner_check_rejects_unknown_owners(con, config):
    build_cost_allocation(con, config, PERIOD).create("ca")
    assert check_owners_configured(con, config, "ca") == []
    con.execute("UPDATE ca SET team = 'zeta' WHERE allocation_method = 'account'")
    con.execute("UPDATE ca SET team = NULL WHERE allocation_method = 'tag'")
    failures = check_owners_configured(con, config, "ca")
    assert f"team 'zeta' (allocation_method 'account') is not configured in {config.path}" in failures
    assert "team None with allocation_method 'tag': only unallocated rows have no team" in failures


def test_allocated_once_detects_repeated_and_missing_rows(con, config, monkeypatch):
    assert check_allocated_once(con, config, PERIOD) == []
    real = checks.allocate_line_items

    def repeated(*args, **kwargs):
        rel = real(*args, **kwargs)
        return rel.union(rel.filter("resource_id = 'i-a'"))

    monkeypatch.setattr(checks, "allocate_line_items", repeated)
    assert check_allocated_once(con, config, PERIOD) == [
        f"{PERIOD}: 8 allocated rows for 7 line items in cost_line_items",
        f"{PERIOD}: allocated unblended_cost sums to 20.5000000000, cost_line_items to 14.5000000000",
        f"{PERIOD}: allocated amortized_cost sums to 20.5000000000, cost_line_items to 14.5000000000",
        f"{PERIOD}: allocated net_amortized_cost sums to 20.5000000000, cost_line_items to 14.5000000000",
    ]
