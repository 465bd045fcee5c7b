"""cost_anomalies on constructed series: known spikes found with hand-computed figures, none on clean series.

Series are deterministic where a figure is asserted (a weekly pattern is predicted exactly by the
same-weekday median, so expected cost is the pattern's value) and seeded-noisy where the claim
is "no false alarm". Data run from 2025-01-01; March is judged with January and February behind it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from transforms import duck, periods
from transforms.insights import InputError, build_cost_anomalies

DAYS = [d for m in ("2025-01", "2025-02", "2025-03") for d in periods.days(m)]
ACCOUNT, OTHER_ACCOUNT = "210000000001", "210000000002"


def weekly(weekday: float, weekend: float) -> np.ndarray:
    return np.array([weekend if d.isoweekday() >= 6 else weekday for d in DAYS])


def add(values: np.ndarray, day: date, extra: float) -> np.ndarray:
    out = values.copy()
    out[DAYS.index(day)] += extra
    return out


def load(con, series: list[dict]) -> None:
    """team_cost_daily and line_item_costs from series dicts: team, service, account, direct,
    optional shared (array), resources ({resource_id: array}, default one resource carrying all)."""
    tcd = {k: [] for k in ("usage_date", "billing_period", "team", "product", "usage_account_id", "service_code", "direct_cost", "shared_cost")}
    items = {k: [] for k in ("usage_date", "team", "usage_account_id", "service_code", "resource_id", "cost")}
    for s in series:
        direct = s.get("direct", np.zeros(len(DAYS)))
        shared = s.get("shared", np.zeros(len(DAYS)))
        resources = s.get("resources", {f"{s['team']}-{s['service']}-{s['account']}": direct})
        for i, d in enumerate(DAYS):
            for key, value in zip(tcd, (d, periods.of(d), s["team"], "p", s["account"], s["service"], round(float(direct[i]), 2), round(float(shared[i]), 2))):
                tcd[key].append(value)
            for rid, costs in resources.items():
                for key, value in zip(items, (d, s["team"], s["account"], s["service"], rid, float(costs[i]))):
                    items[key].append(value)
    con.register("tcd_src", pa.table(tcd))
    con.register("items_src", pa.table(items))
    con.execute(
        "CREATE OR REPLACE TABLE team_cost_daily AS SELECT usage_date, billing_period, team, product, usage_account_id, "
        "service_code, direct_cost::DECIMAL(18,2) AS direct_cost, shared_cost::DECIMAL(18,2) AS shared_cost FROM tcd_src"
    )
    con.execute(
        "CREATE OR REPLACE TABLE line_item_costs AS SELECT usage_date, team, usage_account_id, service_code, "
        "resource_id, cost::DECIMAL(18,10) AS cost FROM items_src"
    )


def anomalies(con, period: str = "2025-03", **options) -> list[dict]:
    rel = build_cost_anomalies(con, period, **options)
    return [dict(zip(rel.columns, row)) for row in rel.fetchall()]


@pytest.fixture
def con():
    c = duck.connect()
    yield c
    c.close()


def test_clean_noisy_series_raise_no_alarm(con):
    rng = np.random.default_rng(11)
    series = []
    for k, (level, weekend, cv) in enumerate([(1000, 0.6, 0.03), (250, 1.0, 0.05), (4000, 0.9, 0.02), (80, 1.0, 0.08), (600, 0.5, 0.04)]):
        values = weekly(level, level * weekend) * (1 + cv * rng.standard_normal(len(DAYS)))
        series.append({"team": f"team{k}", "service": "AmazonEC2", "account": ACCOUNT, "direct": values})
    load(con, series)
    assert anomalies(con, "2025-02") == []
    assert anomalies(con, "2025-03") == []


def test_spike_found_on_its_day_with_expected_actual_impact_and_resource(con):
    # Two resources: 800 + 200 a day on weekdays, 480 + 120 at weekends; the spike (+500) is on
    # the small one, Wednesday 2025-03-12.
    big, small = weekly(800, 480), weekly(200, 120)
    spike_day = date(2025, 3, 12)
    small = add(small, spike_day, 500)
    load(con, [
        {"team": "checkout", "service": "AmazonEC2", "account": ACCOUNT, "direct": big + small,
         "resources": {"i-big": big, "i-small": small}},
        {"team": "search", "service": "AmazonS3", "account": ACCOUNT, "direct": weekly(300, 300)},
    ])
    [a] = anomalies(con)
    assert (a["team"], a["service_code"], a["usage_account_id"]) == ("checkout", "AmazonEC2", ACCOUNT)
    assert (a["start_date"], a["first_seen"], a["last_seen"], a["days"]) == (spike_day, spike_day, spike_day, 1)
    assert a["detected_by"] == "one_day" and a["ongoing"] is False
    # Expected: the four preceding Wednesdays were 1000 each.
    assert (a["expected_cost"], a["actual_cost"], a["impact"]) == (Decimal("1000.00"), Decimal("1500.00"), Decimal("500.00"))
    # i-small cost 700 against 200 on the four Wednesdays before; i-big did not change, so it is
    # not listed (only resources whose cost went up are).
    assert a["top_resources"] == [{"resource_id": "i-small", "cost": Decimal("700.00"), "increase": Decimal("500.00")}]
    assert a["anomaly_id"] == f"checkout|AmazonEC2|{ACCOUNT}|2025-03-12"
    assert a["billing_period"] == "2025-03"


def test_min_impact_keeps_small_increases_quiet(con):
    load(con, [{"team": "search", "service": "AWSLambda", "account": ACCOUNT, "direct": add(weekly(100, 100), date(2025, 3, 12), 40)}])
    assert anomalies(con) == []  # +40 is 40 % but below the default minimum impact of 50
    [a] = anomalies(con, min_impact=Decimal("30"))
    assert (a["first_seen"], a["impact"]) == (date(2025, 3, 12), Decimal("40.00"))


def test_min_relative_keeps_small_relative_increases_quiet(con):
    load(con, [{"team": "ads", "service": "AmazonEC2", "account": ACCOUNT, "direct": add(weekly(10_000, 10_000), date(2025, 3, 12), 1_500)}])
    assert anomalies(con) == []  # +15 % of a 10,000 a day series
    [a] = anomalies(con, min_relative=0.1)
    assert (a["expected_cost"], a["actual_cost"], a["impact"]) == (Decimal("10000.00"), Decimal("11500.00"), Decimal("1500.00"))


def test_two_moderate_days_are_found_on_the_second(con):
    # +30 on two days of a 100 a day series: each day is below the minimum impact, the two together are not.
    values = add(add(weekly(100, 100), date(2025, 3, 12), 30), date(2025, 3, 13), 30)
    load(con, [{"team": "identity", "service": "AmazonDynamoDB", "account": ACCOUNT, "direct": values}])
    [a] = anomalies(con)
    assert a["detected_by"] == "two_day"
    assert (a["start_date"], a["first_seen"], a["last_seen"], a["days"]) == (date(2025, 3, 12), date(2025, 3, 13), date(2025, 3, 13), 2)
    assert (a["expected_cost"], a["actual_cost"], a["impact"]) == (Decimal("200.00"), Decimal("260.00"), Decimal("60.00"))


def test_runaway_starting_late_on_its_first_day_is_found_on_the_second(con):
    values = weekly(400, 400)
    start = DAYS.index(date(2025, 3, 10))
    values[start] += 30  # a few hours of the runaway on its first day
    values[start + 1:start + 5] += 400
    load(con, [{"team": "ml-platform", "service": "AmazonSageMaker", "account": ACCOUNT, "direct": values}])
    [a] = anomalies(con)
    assert a["first_seen"] == date(2025, 3, 11)  # delay of one day: found by its second day
    assert (a["last_seen"], a["impact"]) == (date(2025, 3, 14), Decimal("1600.00"))


def test_month_start_fees_are_expected_on_the_first(con):
    # A monthly fee of 900 on the 1st of every month on top of 50 a day.
    fees = np.array([900.0 if d.day == 1 else 0.0 for d in DAYS])
    load(con, [{"team": "platform", "service": "AWSSupportBusiness", "account": ACCOUNT, "direct": weekly(50, 50) + fees}])
    assert anomalies(con, "2025-02") == [] and anomalies(con, "2025-03") == []


def test_anomaly_across_a_month_boundary(con):
    values = weekly(1000, 1000)
    for d in (date(2025, 2, 27), date(2025, 2, 28), date(2025, 3, 1), date(2025, 3, 2)):
        values = add(values, d, 500)
    load(con, [{"team": "catalog", "service": "AmazonRDS", "account": ACCOUNT, "direct": values}])
    [feb] = anomalies(con, "2025-02")
    assert (feb["start_date"], feb["last_seen"], feb["days"], feb["ongoing"]) == (date(2025, 2, 27), date(2025, 2, 28), 2, True)
    [mar] = anomalies(con, "2025-03")
    # The March run traces it back to its first day: same id, whole extent.
    assert mar["anomaly_id"] == feb["anomaly_id"]
    assert (mar["start_date"], mar["last_seen"], mar["days"], mar["ongoing"]) == (date(2025, 2, 27), date(2025, 3, 2), 4, False)
    assert mar["impact"] == Decimal("2000.00")


def test_no_judgement_before_two_weeks_of_history(con):
    load(con, [{"team": "ads", "service": "AmazonEC2", "account": ACCOUNT, "direct": add(weekly(1000, 1000), date(2025, 1, 9), 5000)}])
    assert anomalies(con, "2025-01") == []


def test_shared_spike_is_one_anomaly_not_one_per_team(con):
    shared = add(weekly(300, 300), date(2025, 3, 12), 600)
    series = [
        {"team": team, "service": "AmazonVPC", "account": OTHER_ACCOUNT, "shared": shared / 3}
        for team in ("checkout", "search", "payments")
    ]
    series.append({"team": "platform", "service": "AmazonVPC", "account": OTHER_ACCOUNT, "direct": weekly(50, 50)})
    load(con, series)
    [a] = anomalies(con)
    assert (a["team"], a["service_code"], a["usage_account_id"]) == ("(shared)", "AmazonVPC", OTHER_ACCOUNT)
    assert (a["expected_cost"], a["actual_cost"], a["impact"]) == (Decimal("300.00"), Decimal("900.00"), Decimal("600.00"))
    per_team = anomalies(con, cost_basis="allocated")
    assert sorted((a["team"], a["impact"]) for a in per_team) == [
        ("checkout", Decimal("200.00")), ("payments", Decimal("200.00")), ("search", Decimal("200.00"))
    ]


def test_series_per_team_and_service_when_not_by_account(con):
    # +30 in each of two accounts: below the minimum impact per account, 60 per team x service.
    load(con, [
        {"team": "search", "service": "AmazonEC2", "account": acct, "direct": add(weekly(100, 100), date(2025, 3, 12), 30)}
        for acct in (ACCOUNT, OTHER_ACCOUNT)
    ])
    assert anomalies(con) == []
    [a] = anomalies(con, by_account=False)
    assert (a["team"], a["usage_account_id"], a["impact"]) == ("search", None, Decimal("60.00"))


def test_bad_inputs_are_named(con):
    con.execute("CREATE TABLE team_cost_daily (usage_date DATE, billing_period VARCHAR, team VARCHAR, product VARCHAR, usage_account_id VARCHAR, service_code VARCHAR, direct_cost DOUBLE, shared_cost DECIMAL(18,2))")
    con.execute("CREATE TABLE line_item_costs (usage_date DATE, team VARCHAR, usage_account_id VARCHAR, service_code VARCHAR, resource_id VARCHAR, cost DECIMAL(18,10))")
    with pytest.raises(InputError, match=r"team_cost_daily \('team_cost_daily'\): column 'direct_cost' has type DOUBLE"):
        build_cost_anomalies(con, "2025-03")
    con.execute("ALTER TABLE team_cost_daily ALTER direct_cost TYPE DECIMAL(18,2)")
    with pytest.raises(InputError, match=r"line_item_costs: relation 'nope' does not exist"):
        build_cost_anomalies(con, "2025-03", line_item_costs="nope")
    con.execute("ALTER TABLE line_item_costs DROP COLUMN resource_id")
    with pytest.raises(InputError, match=r"line_item_costs \('line_item_costs'\): missing column\(s\) 'resource_id'"):
        build_cost_anomalies(con, "2025-03")
    with pytest.raises(InputError, match=r"is not a table or view name"):
        build_cost_anomalies(con, "2025-03", team_cost_daily="x; DROP TABLE y")


def test_null_team_is_refused(con):
    load(con, [{"team": "search", "service": "AmazonEC2", "account": ACCOUNT, "direct": weekly(100, 100)}])
    con.execute("UPDATE team_cost_daily SET team = NULL WHERE usage_date = DATE '2025-03-03'")
    with pytest.raises(InputError, match=r"(?s)null team.*usage_date=datetime.date\(2025, 3, 3\), team=None"):
        build_cost_anomalies(con, "2025-03")
