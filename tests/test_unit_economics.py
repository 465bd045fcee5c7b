"""unit_economics: every metric of a small hand-built month checked against values computed by hand,
the null-with-reason edge cases, and the reconciliation gate.

February 2025 (28 days, complete): checkout costs 10.00 direct + 2.00 shared a day and reports
revenue 100, 10 orders and 5 active users a day. March has two days:

| day   | team     | cost (direct + shared)      | revenue | orders | active users |
|-------|----------|-----------------------------|---------|--------|--------------|
| 03-01 | checkout | 20+4 (EC2) + 10+2 (S3) = 36 | 400     | 12     | 6            |
| 03-02 | checkout | 20 + 4 = 24                 | 300     | 8      | 4            |
| 03-01 | search   | 50 + 0                      | 0       | 0      | 0            |
| 03-02 | search   | (no cost)                   | 100     | 10     | 2            |
| 03-01 | payments | 7 + 0                       | (no metrics row)                |
| 03-01 | identity | 5 + 0                       | 50      | NULL   | 1            |
| 03-02 | identity | 5 + 0                       | (no metrics row)                |
| 03-01 | unallocated | 99 + 0                   | (excluded from unit metrics)    |
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from transforms import duck, periods
from transforms.insights import InputError, build_unit_economics, check_unit_economics

D = Decimal


@pytest.fixture
def con():
    c = duck.connect()
    c.execute(
        "CREATE TABLE team_cost_daily (usage_date DATE, billing_period VARCHAR, team VARCHAR, product VARCHAR, "
        "usage_account_id VARCHAR, service_code VARCHAR, direct_cost DECIMAL(18,2), shared_cost DECIMAL(18,2))"
    )
    c.execute(
        "CREATE TABLE business_metrics_daily (date DATE, billing_period VARCHAR, team VARCHAR, product VARCHAR, "
        "revenue DECIMAL(18,4), orders BIGINT, active_users BIGINT, requests BIGINT, currency VARCHAR)"
    )
    cost = "INSERT INTO team_cost_daily VALUES (?, ?, ?, ?, '210000000001', ?, ?, ?)"
    metric = "INSERT INTO business_metrics_daily VALUES (?, ?, ?, ?, ?, ?, ?, 0, 'USD')"
    for d in periods.days("2025-02"):
        c.execute(cost, [d, "2025-02", "checkout", "storefront", "AmazonEC2", D("10.00"), D("2.00")])
        c.execute(metric, [d, "2025-02", "checkout", "storefront", D("100"), 10, 5])
    m1, m2 = date(2025, 3, 1), date(2025, 3, 2)
    for row in [
        (m1, "checkout", "storefront", "AmazonEC2", "20.00", "4.00"),
        (m1, "checkout", "storefront", "AmazonS3", "10.00", "2.00"),
        (m2, "checkout", "storefront", "AmazonEC2", "20.00", "4.00"),
        (m1, "search", "storefront", "AmazonEC2", "50.00", "0.00"),
        (m1, "payments", "storefront", "AWSLambda", "7.00", "0.00"),
        (m1, "identity", "marketplace", "AmazonEC2", "5.00", "0.00"),
        (m2, "identity", "marketplace", "AmazonEC2", "5.00", "0.00"),
        (m1, "unallocated", None, "AmazonEC2", "99.00", "0.00"),
    ]:
        c.execute(cost, [row[0], "2025-03", *row[1:4], D(row[4]), D(row[5])])
    for row in [
        (m1, "checkout", "storefront", "400", 12, 6),
        (m2, "checkout", "storefront", "300", 8, 4),
        (m1, "search", "storefront", "0", 0, 0),
        (m2, "search", "storefront", "100", 10, 2),
        (m1, "identity", "marketplace", "50", None, 1),
    ]:
        c.execute(metric, [row[0], "2025-03", *row[1:3], D(row[3]), row[4], row[5]])
    yield c
    c.close()


def table(con, period: str = "2025-03") -> dict[tuple, dict]:
    rel = build_unit_economics(con, period)
    return {(r["grain"], r["period_start"], r["team"]): r for r in (dict(zip(rel.columns, row)) for row in rel.fetchall())}


def test_day_metrics_by_hand(con):
    r = table(con)[("day", date(2025, 3, 1), "checkout")]
    assert (r["direct_cost"], r["shared_cost"], r["allocated_cost"]) == (D("30.00"), D("6.00"), D("36.00"))
    assert (r["revenue"], r["orders"], r["active_users"], r["currency"]) == (D("400.00"), 12, 6.0, "USD")
    assert r["cost_per_order"] == pytest.approx(36 / 12)
    assert r["cost_per_active_user"] == pytest.approx(36 / 6)
    assert r["cloud_cost_to_revenue"] == pytest.approx(36 / 400)
    assert (r["gross_margin"], r["gross_margin_ratio"]) == (D("364.00"), pytest.approx(364 / 400))
    # Against 2025-02-28: cost 12, 10 orders, 5 active users.
    assert (r["previous_allocated_cost"], r["allocated_cost_change"]) == (D("12.00"), D("24.00"))
    assert r["allocated_cost_change_ratio"] == pytest.approx(24 / 12)
    assert r["cost_per_order_change_ratio"] == pytest.approx((3.0 - 1.2) / 1.2)
    assert r["cost_per_active_user_change_ratio"] == pytest.approx((6.0 - 2.4) / 2.4)
    reasons = [k for k in r if k.endswith("_null_reason")]
    assert len(reasons) == 7 and all(r[k] is None for k in reasons)

    r2 = table(con)[("day", date(2025, 3, 2), "checkout")]
    assert (r2["allocated_cost"], r2["previous_allocated_cost"], r2["allocated_cost_change"]) == (D("24.00"), D("36.00"), D("-12.00"))
    assert r2["allocated_cost_change_ratio"] == pytest.approx(-12 / 36)
    assert r2["cost_per_order_change_ratio"] == pytest.approx(0.0)


def test_month_metrics_by_hand(con):
    r = table(con)[("month", date(2025, 3, 1), "checkout")]
    assert (r["allocated_cost"], r["revenue"], r["orders"], r["days"]) == (D("60.00"), D("700.00"), 20, 2)
    assert r["active_users"] == pytest.approx(5.0)  # mean of 6 and 4 daily active users
    assert r["cost_per_order"] == pytest.approx(3.0)
    assert r["cost_per_active_user"] == pytest.approx(60 / 5)
    assert r["cloud_cost_to_revenue"] == pytest.approx(60 / 700)
    assert r["gross_margin"] == D("640.00")
    # February: 28 x 12 = 336 cost, 280 orders, 5 active users a day.
    assert (r["previous_allocated_cost"], r["allocated_cost_change"]) == (D("336.00"), D("-276.00"))
    assert r["allocated_cost_change_ratio"] == pytest.approx(-276 / 336)
    assert r["cost_per_order_change_ratio"] == pytest.approx((3.0 - 1.2) / 1.2)
    assert r["cost_per_active_user_change_ratio"] == pytest.approx((12 - 67.2) / 67.2)


def test_zero_and_missing_denominators_are_null_with_a_reason(con):
    t = table(con)
    search = t[("day", date(2025, 3, 1), "search")]
    assert (search["cost_per_order"], search["cost_per_order_null_reason"]) == (None, "zero orders")
    assert (search["cost_per_active_user"], search["cost_per_active_user_null_reason"]) == (None, "zero active users")
    assert (search["cloud_cost_to_revenue"], search["cloud_cost_to_revenue_null_reason"]) == (None, "zero revenue")
    assert (search["gross_margin"], search["gross_margin_ratio"], search["gross_margin_ratio_null_reason"]) == (D("-50.00"), None, "zero revenue")
    # search had no cost on 02-28 although other teams had: zero, not unknown.
    assert (search["previous_allocated_cost"], search["allocated_cost_change"]) == (D("0.00"), D("50.00"))
    assert search["allocated_cost_change_ratio_null_reason"] == "previous cost is zero"
    assert search["cost_per_order_change_ratio_null_reason"] == "cost_per_order is null"

    search2 = t[("day", date(2025, 3, 2), "search")]  # revenue, no cost
    assert (search2["allocated_cost"], search2["cost_per_order"], search2["cloud_cost_to_revenue"]) == (D("0.00"), 0.0, 0.0)
    assert search2["allocated_cost_change_ratio"] == pytest.approx(-1.0)
    assert search2["cost_per_order_change_ratio_null_reason"] == "previous period: zero orders"

    payments = t[("day", date(2025, 3, 1), "payments")]  # cost, no metrics row
    for k in ("cost_per_order", "cost_per_active_user", "cloud_cost_to_revenue", "gross_margin_ratio"):
        assert (payments[k], payments[f"{k}_null_reason"]) == (None, "no business metrics")
    assert (payments["revenue"], payments["orders"], payments["gross_margin"]) == (None, None, None)
    assert payments["cost_per_order_change_ratio_null_reason"] == "cost_per_order is null"

    identity = t[("day", date(2025, 3, 1), "identity")]  # a metrics row without orders
    assert identity["cost_per_order_null_reason"] == "orders not reported"
    assert identity["cost_per_active_user"] == pytest.approx(5.0)
    month = t[("month", date(2025, 3, 1), "identity")]  # metrics on one of its two days
    assert (month["cost_per_order"], month["cost_per_order_null_reason"]) == (None, "orders missing on 2 of 2 days")
    assert month["cost_per_active_user_null_reason"] == "active users missing on 1 of 2 days"
    assert month["cloud_cost_to_revenue_null_reason"] == "revenue missing on 1 of 2 days"
    assert month["gross_margin"] is None

    search_month = t[("month", date(2025, 3, 1), "search")]
    assert search_month["cost_per_order"] == pytest.approx(50 / 10)
    assert search_month["allocated_cost_change_ratio_null_reason"] == "previous cost is zero"
    assert search_month["cost_per_order_change_ratio_null_reason"] == "previous period: no cost or business metrics"

    assert not any(k[2] == "unallocated" for k in t)
    assert len(t) == 7 + 4  # day rows (checkout 2, search 2, payments 1, identity 2) + month rows


def test_previous_period_without_data_or_incomplete(con):
    feb = table(con, "2025-02")
    assert feb[("day", date(2025, 2, 1), "checkout")]["allocated_cost_change_ratio_null_reason"] == "no data for previous period"
    assert feb[("month", date(2025, 2, 1), "checkout")]["previous_allocated_cost"] is None
    assert feb[("day", date(2025, 2, 2), "checkout")]["allocated_cost_change_ratio"] == pytest.approx(0.0)
    con.execute("DELETE FROM team_cost_daily WHERE usage_date < DATE '2025-02-20'")
    month = table(con)[("month", date(2025, 3, 1), "checkout")]
    assert (month["allocated_cost_change_ratio"], month["allocated_cost_change_ratio_null_reason"]) == (None, "previous period incomplete")
    assert month["cost_per_order_change_ratio_null_reason"] == "previous period incomplete"


def test_reconciliation_gate(con):
    build_unit_economics(con, "2025-03").create("ue")
    assert check_unit_economics(con, "ue", "2025-03") == []
    # The sum of the month rows must equal the allocation: an extra cent fails, naming the team.
    con.execute("UPDATE ue SET allocated_cost = allocated_cost + 0.01 WHERE grain = 'month' AND team = 'search'")
    assert check_unit_economics(con, "ue", "2025-03") == [
        "unit_economics 2025-03: allocated_cost reconciles with cost allocation: grain=month team='search': expected 50.00, got 50.01"
    ]
    con.execute("UPDATE ue SET allocated_cost = allocated_cost - 0.01 WHERE grain = 'month' AND team = 'search'")
    con.execute("DELETE FROM ue WHERE grain = 'day' AND team = 'checkout' AND period_start = DATE '2025-03-02'")
    failures = check_unit_economics(con, "ue", "2025-03")
    assert "unit_economics 2025-03: allocated_cost reconciles with cost allocation: grain=day team='checkout': expected 60.00, got 36.00" in failures
    assert "unit_economics 2025-03: revenue reconciles with business metrics: grain=day team='checkout': expected 700.0000, got 400.00" in failures
    assert "unit_economics 2025-03: orders reconcile with business metrics: grain=day team='checkout': expected 20, got 12" in failures
    con.execute("UPDATE ue SET cost_per_order = 1e308 * 10 WHERE team = 'search' AND grain = 'month'")
    assert any("ratios are finite" in f and "team='search'" in f for f in check_unit_economics(con, "ue", "2025-03"))


def test_bad_inputs_are_named(con):
    con.execute("INSERT INTO business_metrics_daily VALUES (DATE '2025-03-01', '2025-03', 'checkout', 'storefront', 1, 1, 1, 0, 'USD')")
    with pytest.raises(InputError, match=r"(?s)more than one row per \(date, team, product\).*team='checkout', product='storefront', rows=2"):
        build_unit_economics(con, "2025-03")
    con.execute("DELETE FROM business_metrics_daily WHERE revenue = 1")
    con.execute("UPDATE business_metrics_daily SET currency = 'EUR' WHERE team = 'search'")
    with pytest.raises(InputError, match=r"(?s)column 'currency' must be 'USD'.*currency='EUR', rows=2"):
        build_unit_economics(con, "2025-03")
    con.execute("UPDATE business_metrics_daily SET currency = 'USD'")
    con.execute("UPDATE team_cost_daily SET billing_period = '2025-02' WHERE usage_date = DATE '2025-03-02'")
    with pytest.raises(InputError, match=r"(?s)billing_period differs from the month of 'usage_date'.*usage_date=datetime.date\(2025, 3, 2\)"):
        build_unit_economics(con, "2025-03")
    with pytest.raises(InputError, match=r"business_metrics_daily: relation 'metrics_v2' does not exist"):
        build_unit_economics(con, "2025-03", metrics="metrics_v2")
    with pytest.raises(ValueError, match=r"billing period '2025-3' is not of the form YYYY-MM"):
        build_unit_economics(con, "2025-3")
