"""efficiency_kpis on a small constructed bill, every figure computed by hand.

Teams (from their team tag): alpha runs all-Graviton compute, beta none, gamma half. February
2025: its weeks are Jan 27 (Sunday Feb 2 is in February), Feb 3, Feb 10 and Feb 17; Feb 24-Mar 2
belongs to March. One alpha row on Jan 28 (billing period 2025-01) counts in the week of Jan 27
only; one on Feb 25 in the month only.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from test_efficiency_builders import (
    ACCOUNT_A,
    ACCOUNT_B,
    FULL_TAGS,
    PERIOD,
    allocation_config,
    connect,
    credit_config,
    empty_insight_tables,
    insert,
    item,
)
from transforms.efficiency import build_efficiency_kpis, check_kpi_shares
from transforms.insights import InputError

MON = date(2025, 2, 3)
JAN27 = date(2025, 1, 27)
FEB1 = date(2025, 2, 1)
FEB10 = date(2025, 2, 10)


def bill() -> list[dict]:
    alpha = dict(tags=FULL_TAGS)
    return [
        # alpha: Graviton on demand and on Spot; gp3; S3 Standard and IA; m5 late in the month; m7g in January.
        item("alpha", "10", usage_type="BoxUsage:m7g.large", processor="Graviton", resource_id="i-a1", **alpha),
        item("alpha", "1.2", usage_type="SpotUsage:m7g.large", processor="Graviton", public="4",
             purchase_option="Spot", resource_id="i-a2", **alpha),
        item("alpha", "8", usage_type="EBS:VolumeUsage.gp3", volume="gp3", resource_id="vol-a3", **alpha),
        item("alpha", "6", service="AmazonS3", usage_type="TimedStorage-ByteHrs", storage_class="General Purpose",
             resource_id="bucket-a", **alpha),
        item("alpha", "2", service="AmazonS3", usage_type="TimedStorage-SIA-ByteHrs",
             storage_class="Infrequent Access", resource_id="bucket-a", **alpha),
        item("alpha", "7", day=date(2025, 2, 25), processor="Intel", resource_id="i-a6", **alpha),
        item("alpha", "3", day=date(2025, 1, 28), usage_type="BoxUsage:m7g.large", processor="Graviton",
             resource_id="i-a7", **alpha),
        # beta (team tag only, its own account): Intel on demand, Windows, an RI, a Compute SP, m4, gp2.
        item("beta", "10", processor="Intel", account=ACCOUNT_B, resource_id="i-b1"),
        item("beta", "4", processor="Intel", operating_system="Windows", account=ACCOUNT_B, resource_id="i-b2"),
        item("beta", "6", public="10", processor="Intel", line_item_type="DiscountedUsage", purchase_option="Reserved",
             commitment_type="Reserved", arn="ri-1", account=ACCOUNT_B, resource_id="i-b3"),
        item("beta", "3", public="4", usage_type="BoxUsage:c5.large", processor="Intel",
             line_item_type="SavingsPlanCoveredUsage", purchase_option="SavingsPlan",
             commitment_type="ComputeSavingsPlans", arn="sp-1", account=ACCOUNT_B, resource_id="i-b4"),
        item("beta", "5", usage_type="BoxUsage:m4.large", processor="Intel", account=ACCOUNT_B, resource_id="i-b5"),
        item("beta", "10", usage_type="EBS:VolumeUsage.gp2", volume="gp2", account=ACCOUNT_B, resource_id="vol-b6"),
        # gamma: m7g and m5 fully tagged; r5 on an EC2 Instance SP; Lambda x86 on the Compute SP and ARM on demand; gp2 and gp3.
        item("gamma", "5", usage_type="BoxUsage:m7g.large", processor="Graviton", resource_id="i-g1", tags=FULL_TAGS),
        item("gamma", "5", processor="Intel", resource_id="i-g2", tags=FULL_TAGS),
        item("gamma", "2", public="3", usage_type="BoxUsage:r5.large", processor="Intel",
             line_item_type="SavingsPlanCoveredUsage", purchase_option="SavingsPlan",
             commitment_type="EC2InstanceSavingsPlans", arn="sp-2", resource_id="i-g3"),
        item("gamma", "1", public="1.2", service="AWSLambda", usage_type="USE1-Lambda-GB-Second",
             line_item_type="SavingsPlanCoveredUsage", purchase_option="SavingsPlan",
             commitment_type="ComputeSavingsPlans", arn="sp-1", resource_id="fn-g4"),
        item("gamma", "1", service="AWSLambda", usage_type="USE1-Lambda-GB-Second-ARM", processor="Graviton",
             resource_id="fn-g5"),
        item("gamma", "5", usage_type="EBS:VolumeUsage.gp2", volume="gp2", resource_id="vol-g6"),
        item("gamma", "5", usage_type="EBS:VolumeUsage.gp3", volume="gp3", resource_id="vol-g7"),
        # Commitment fees, untagged in the shared account: unallocated. ri-2 is used by nobody.
        item(None, "2", day=FEB1, usage_type="HeavyUsage:m5.large", line_item_type="RIFee",
             purchase_option="Reserved", commitment_type="Reserved", arn="ri-1", charge_category="Purchase",
             resource_id=None),
        item(None, "1", service="ComputeSavingsPlans", usage_type="ComputeSP:1yrNoUpfront",
             line_item_type="SavingsPlanRecurringFee", purchase_option="SavingsPlan",
             commitment_type="ComputeSavingsPlans", arn="sp-1", charge_category="Purchase", resource_id=None),
        item(None, "0", service="ComputeSavingsPlans", usage_type="EC2SP:1yrNoUpfront",
             line_item_type="SavingsPlanRecurringFee", purchase_option="SavingsPlan",
             commitment_type="EC2InstanceSavingsPlans", arn="sp-2", charge_category="Purchase", resource_id=None),
        item(None, "3", day=FEB1, usage_type="HeavyUsage:c5.large", line_item_type="RIFee",
             purchase_option="Reserved", commitment_type="Reserved", arn="ri-2", charge_category="Purchase",
             resource_id=None),
    ]


def insight_tables(con) -> None:
    """alpha: 10 a day and 5 orders, 12 a day in the week of Feb 3; budget 10 a day. beta: 20 a day, revenue 100, from Feb 3."""
    empty_insight_tables(con)
    day = date(2025, 1, 20)
    while day <= date(2025, 2, 28):
        period = f"{day.year:04d}-{day.month:02d}"
        cost = 12 if MON <= day < FEB10 else 10
        con.execute("INSERT INTO unit_economics VALUES (?, 'day', ?, 'alpha', 'p1', ?, 5, 1, 0)", [period, day, cost])
        if day >= MON:
            con.execute("INSERT INTO unit_economics VALUES (?, 'day', ?, 'beta', 'p1', 20, 0, 1, 100)", [period, day])
        day += timedelta(days=1)
    con.execute("INSERT INTO unit_economics VALUES ('2025-01', 'month', '2025-01-01', 'alpha', 'p1', 310, 155, 1, 0)")
    con.execute("INSERT INTO unit_economics VALUES ('2025-02', 'month', '2025-02-01', 'alpha', 'p1', 294, 140, 1, 0)")
    con.execute("INSERT INTO budget_variance VALUES ('2025-01', 'alpha', 'team', 310, 310, 31, 31)")
    con.execute("INSERT INTO budget_variance VALUES ('2025-02', 'alpha', 'team', 280, 294, 28, 28)")
    con.execute("INSERT INTO budget_variance VALUES ('2025-02', 'beta', 'team', NULL, 560, 28, 28)")


@pytest.fixture(scope="module")
def kpis(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kpis")
    con = connect()
    insert(con, bill())
    insight_tables(con)
    build_efficiency_kpis(
        con, PERIOD, allocation_config=allocation_config(tmp), config=credit_config(tmp)
    ).create("efficiency_kpis")
    rows = con.execute(
        "SELECT grain, period_start, team, usage_account_id, kpi, numerator, denominator, value, applies, "
        "goal, days, period_end FROM efficiency_kpis"
    ).fetchall()
    yield con, {r[:5]: r[5:] for r in rows}
    con.close()


def kpi(table, kpi_name, team, grain="month", start=FEB1, account=None):
    return table[(grain, start, team, account, kpi_name)]


def assert_kpi(table, kpi_name, team, num, den, grain="month", start=FEB1, account=None):
    got_num, got_den, value, applies, *_ = kpi(table, kpi_name, team, grain, start, account)
    assert (got_num, got_den) == (Decimal(num).quantize(Decimal("0.01")), Decimal(den).quantize(Decimal("0.01")))
    if Decimal(den) > 0:
        assert applies and value == pytest.approx(float(Decimal(num) / Decimal(den)), abs=1e-12)
    else:
        assert not applies and value is None


@pytest.mark.parametrize(
    "kpi_name, team, num, den",
    [
        # Graviton: alpha all (m7g, m7g Spot) but the m5 of Feb 25; beta none (Windows and RI not eligible,
        # m4 and the c5 Compute SP are); gamma half (m7g + ARM Lambda vs m5 + x86 Lambda on Compute SP;
        # the r5 on an EC2 Instance SP is locked in its family).
        ("graviton_coverage", "alpha", "11.2", "18.2"),
        ("graviton_coverage", "beta", "0", "18"),
        ("graviton_coverage", "gamma", "6", "12"),
        ("graviton_coverage", None, "17.2", "48.2"),
        # Spot, public cost, RI and EC2 Instance SP excluded.
        ("spot_coverage", "alpha", "4", "21"),
        ("spot_coverage", "beta", "0", "23"),
        ("spot_coverage", "gamma", "0", "10"),
        # Commitment coverage, amortized, Spot excluded; Lambda is eligible.
        ("commitment_coverage", "alpha", "0", "17"),
        ("commitment_coverage", "beta", "9", "28"),
        ("commitment_coverage", "gamma", "3", "14"),
        # Utilization: ri-1's unused 2 goes to beta (its only user), sp-1's unused 1 to beta 3/4 and
        # gamma 1/4; ri-2 (used by nobody) stays with its fee's owner.
        ("commitment_utilization", "beta", "9", "11.75"),
        ("commitment_utilization", "gamma", "3", "3.25"),
        ("commitment_utilization", "unallocated", "0", "3"),
        ("commitment_utilization", "alpha", "0", "0"),
        ("commitment_utilization", None, "12", "18"),
        ("gp3_share", "alpha", "8", "8"),
        ("gp3_share", "beta", "0", "10"),
        ("gp3_share", "gamma", "5", "10"),
        ("s3_storage_class_share", "alpha", "2", "8"),
        ("s3_storage_class_share", "beta", "0", "0"),
        ("previous_generation_share", "beta", "5", "28"),
        ("previous_generation_share", "gamma", "0", "12"),
        # Tagging: taggable = Usage with a resource id; alpha fully tagged, beta only its team, gamma half.
        ("tagging_compliance", "alpha", "34.2", "34.2"),
        ("tagging_compliance", "beta", "0", "38"),
        ("tagging_compliance", "gamma", "10", "24"),
        ("tagging_compliance", None, "44.2", "96.2"),
        # Budget: actual to date 294 against 280 x 28/28; beta has no budget.
        ("budget_adherence", "alpha", "294", "280"),
        ("budget_adherence", "beta", "0", "0"),
        # Unit cost: 294 for 140 orders against January's 310 / 155 = 2 per order: 294 / 280.
        ("unit_cost_trend", "alpha", "294", "280"),
    ],
)
def test_month_kpis_by_hand(kpis, kpi_name, team, num, den):
    assert_kpi(kpis[1], kpi_name, team, num, den)


def test_weeks_belong_to_the_period_of_their_sunday(kpis):
    con, table = kpis
    weeks = con.execute(
        "SELECT DISTINCT period_start, period_end, days FROM efficiency_kpis WHERE grain = 'week' ORDER BY 1"
    ).fetchall()
    # The Feb 24 week is March's; the Jan 27 week reads January's line items (Jan 28) and Feb 1-2.
    assert [(w[0], w[1]) for w in weeks] == [
        (date(2025, 1, 27), date(2025, 2, 2)), (MON, date(2025, 2, 9)),
    ]
    assert [w[2] for w in weeks] == [2, 1]  # days with line items: Jan 28 + Feb 1; Feb 3
    # alpha: all Graviton in both of its weeks; the m5 of Feb 25 is in the month only.
    assert_kpi(table, "graviton_coverage", "alpha", "3", "3", "week", JAN27)
    assert_kpi(table, "graviton_coverage", "alpha", "11.2", "11.2", "week", MON)
    assert_kpi(table, "graviton_coverage", "gamma", "6", "12", "week", MON)


def test_weekly_utilization_spreads_the_monthly_ri_fee(kpis):
    _, table = kpis
    # ri-1's fee of 2 covers 28 days: 0.5 in the week of Feb 3 (beta used it); sp-1's 1 is split 3:1.
    assert_kpi(table, "commitment_utilization", "beta", "9", "10.25", "week", MON)
    # Feb 1-2 of ri-1 and ri-2 nobody used that week: 2 x 2/28 + 3 x 2/28 = 5/14 stays with the fees' owner.
    got = kpi(table, "commitment_utilization", "unallocated", "week", JAN27)
    assert got[:4] == (Decimal("0.00"), Decimal("0.36"), 0.0, True)


def test_weekly_budget_and_unit_cost(kpis):
    _, table = kpis
    # Week of Feb 3: 7 x 12 against 7 x 10 of budget; 35 orders at last week's 70 / 35.
    assert_kpi(table, "budget_adherence", "alpha", "84", "70", "week", MON)
    assert_kpi(table, "unit_cost_trend", "alpha", "84", "70", "week", MON)
    # Week of Jan 27: 5 January days at 310/31 and 2 February days at 280/28 of budget.
    assert_kpi(table, "budget_adherence", "alpha", "70", "70", "week", JAN27)
    # beta's driver is revenue and it has no previous week: the trend does not apply.
    assert_kpi(table, "unit_cost_trend", "beta", "140", "0", "week", MON)
    # The organization sums the teams the KPI applies to.
    assert_kpi(table, "budget_adherence", None, "84", "70", "week", MON)


def test_accounts_and_goals(kpis):
    _, table = kpis
    assert_kpi(table, "graviton_coverage", "beta", "0", "18", account=ACCOUNT_B)
    assert_kpi(table, "graviton_coverage", None, "17.2", "30.2", account=ACCOUNT_A)
    assert kpi(table, "graviton_coverage", "alpha")[4] == 0.20
    # Budget and unit cost are per team only.
    assert ("month", FEB1, "alpha", ACCOUNT_A, "budget_adherence") not in table
    assert kpi(table, "gp3_share", "alpha")[6] == date(2025, 2, 28)


def test_gate_passes_and_catches_a_share_above_one(kpis):
    con, _ = kpis
    assert check_kpi_shares(con, "efficiency_kpis", PERIOD) == []
    con.execute("CREATE TABLE broken AS SELECT * FROM efficiency_kpis")
    con.execute("UPDATE broken SET value = 1.5, numerator = 27 WHERE kpi = 'gp3_share' AND team = 'alpha' "
                "AND grain = 'month' AND usage_account_id IS NULL")
    con.execute("UPDATE broken SET applies = false WHERE kpi = 'gp3_share' AND team = 'gamma' "
                "AND grain = 'month' AND usage_account_id IS NULL")
    failures = check_kpi_shares(con, "broken", PERIOD)
    assert len(failures) == 2
    assert "share between 0 and 1" in failures[0] and "team=alpha" in failures[0] and "kpi=gp3_share" in failures[0]
    assert "value present exactly when applies" in failures[1] and "team=gamma" in failures[1]


def test_bad_inputs_are_named(tmp_path):
    con = connect()
    insert(con, bill())
    empty_insight_tables(con)
    config = allocation_config(tmp_path)
    with pytest.raises(InputError, match=r"line_items \('cost_line_items'\): no rows with billing_period = '2025-03'"):
        build_efficiency_kpis(con, "2025-03", allocation_config=config)
    con.execute("ALTER TABLE unit_economics DROP COLUMN orders")
    with pytest.raises(InputError, match=r"unit_economics \('unit_economics'\): missing column\(s\) 'orders'"):
        build_efficiency_kpis(con, PERIOD, allocation_config=config)
    con.execute("ALTER TABLE budget_variance ALTER budget TYPE DOUBLE")
    with pytest.raises(InputError, match=r"column 'budget' has type DOUBLE, expected DECIMAL"):
        build_efficiency_kpis(con, PERIOD, allocation_config=config)
