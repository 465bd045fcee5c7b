"""budget_variance and forecast_accuracy: forecasts of series whose right answer is known, statuses
and variances computed by hand, and the forecast checked against an independent Python
implementation of the documented method on an irregular series."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pyarrow as pa
import pytest

from transforms import duck, periods
from transforms.insights import InputError, build_budget_variance, build_forecast_accuracy, check_budget_variance

FEB_MAR = periods.days("2025-02") + periods.days("2025-03")
ACCOUNT = "210000000001"


def periodic(d: date) -> float:
    """100 on weekdays, 40 at weekends: March 2025 totals 21 x 100 + 10 x 40 = 2500."""
    return 40.0 if d.isoweekday() >= 6 else 100.0


def step(d: date) -> float:
    """100 a day, 200 a day from 2025-03-04: March totals 3 x 100 + 28 x 200 = 5900."""
    return 200.0 if d >= date(2025, 3, 4) else 100.0


def irregular(d: date) -> float:
    """A weekly shape, a trend and a deterministic wobble: no closed form, for the reference check."""
    i = (d - date(2025, 2, 1)).days
    return round(50 + 0.8 * i + (25 if d.isoweekday() <= 5 else -10) + 7 * ((i * 37) % 11 - 5) / 5, 2)


def load(con, series: dict[tuple[str, str], tuple], budgets: list[tuple] = ()) -> None:
    """series: (team, service) -> (function of the day, first day); costs split 3/4 direct, 1/4 shared."""
    rows = {k: [] for k in ("usage_date", "billing_period", "team", "product", "usage_account_id", "service_code", "direct_cost", "shared_cost")}
    for (team, service), (fn, first) in series.items():
        for d in FEB_MAR:
            if d < first:
                continue
            total = Decimal(str(fn(d))).quantize(Decimal("0.01"))
            shared = (total / 4).quantize(Decimal("0.01"))
            for key, value in zip(rows, (d, periods.of(d), team, "p", ACCOUNT, service, total - shared, shared)):
                rows[key].append(value)
    con.register("src", pa.table(rows))
    con.execute(
        "CREATE OR REPLACE TABLE team_cost_daily AS SELECT usage_date, billing_period, team, product, usage_account_id, "
        "service_code, direct_cost::DECIMAL(18,2) AS direct_cost, shared_cost::DECIMAL(18,2) AS shared_cost FROM src"
    )
    con.execute("CREATE OR REPLACE TABLE budgets (billing_period VARCHAR, team VARCHAR, service_code VARCHAR, budget DECIMAL(18,2), currency VARCHAR)")
    for row in budgets:
        con.execute("INSERT INTO budgets VALUES (?, ?, ?, ?, ?)", list(row))


def rows(rel) -> dict[tuple, dict]:
    return {(r["team"], r["service_code"]): r for r in (dict(zip(rel.columns, row)) for row in rel.fetchall())}


def reference_forecast(costs: dict[date, float], as_of: date, month_end: date, first_data_day: date) -> Decimal:
    """The method of docs/unit_economics.md, written independently in plain Python."""
    window = [as_of - timedelta(days=k) for k in range(28) if as_of - timedelta(days=k) >= first_data_day]
    by_dow: dict[int, list[float]] = {}
    for d in window:
        by_dow.setdefault(d.isoweekday(), []).append(costs.get(d, 0.0))
    means = {w: sum(v) / len(v) for w, v in by_dow.items()}
    overall = sum(means.values()) / len(means)
    adjusted = len(window) >= 14 and overall > 0 and min(means.values()) >= 0
    factor = {w: (m / overall if adjusted else 1.0) for w, m in means.items()}
    last = sorted(window)[-7:]
    level = sum(costs.get(d, 0.0) for d in last) / sum(factor[d.isoweekday()] for d in last)
    remaining = [as_of + timedelta(days=k) for k in range(1, (month_end - as_of).days + 1)]
    rest = level * sum(factor.get(d.isoweekday(), 1.0) if adjusted else 1.0 for d in remaining)
    to_date = sum(Decimal(str(costs[d])) for d in costs if as_of.replace(day=1) <= d <= as_of)
    return to_date + Decimal(str(rest)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


@pytest.fixture
def con():
    c = duck.connect()
    yield c
    c.close()


def test_weekday_pattern_is_forecast_exactly(con):
    load(con, {("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1))})
    [r] = rows(build_budget_variance(con, "2025-03", date(2025, 3, 10))).values()
    # To 2025-03-10: weekends 1, 2, 8, 9 (4 x 40) and weekdays 3-7, 10 (6 x 100).
    assert (r["actual_mtd"], r["forecast"], r["forecast_method"]) == (Decimal("760.00"), Decimal("2500.00"), "weekday")
    assert (r["days_elapsed"], r["days_in_month"], r["as_of"]) == (10, 31, date(2025, 3, 10))


def test_level_follows_the_last_week(con):
    load(con, {("search", "AmazonEC2"): (step, date(2025, 2, 1))})
    [r] = rows(build_budget_variance(con, "2025-03", date(2025, 3, 10))).values()
    # Since 2025-03-04 the series is 200 a day: the rest of the month at 200.
    assert (r["actual_mtd"], r["forecast"]) == (Decimal("1700.00"), Decimal("5900.00"))


def test_short_history_gives_a_flat_run_rate(con):
    # Data start on 2025-03-01: 10, 20, ..., 100. As of the 10th: the mean of the last 7 days
    # (40..100 -> 70) for each of the 21 remaining days, no weekday shape on 10 days of history.
    load(con, {("ads", "AmazonS3"): (lambda d: 10.0 * d.day if d.day <= 10 else 0.0, date(2025, 3, 1))})
    con.execute("DELETE FROM team_cost_daily WHERE usage_date > DATE '2025-03-10'")
    [r] = rows(build_budget_variance(con, "2025-03", date(2025, 3, 10))).values()
    assert (r["actual_mtd"], r["forecast"], r["forecast_method"]) == (Decimal("550.00"), Decimal("2020.00"), "flat")


def test_forecast_matches_an_independent_implementation(con):
    load(con, {("data-platform", "AmazonEMR"): (irregular, date(2025, 2, 1))})
    costs = {d: irregular(d) for d in FEB_MAR}
    for as_of in (date(2025, 3, 1), date(2025, 3, 5), date(2025, 3, 13), date(2025, 3, 22), date(2025, 3, 30)):
        [r] = rows(build_budget_variance(con, "2025-03", as_of)).values()
        expected = reference_forecast(costs, as_of, date(2025, 3, 31), date(2025, 2, 1))
        assert abs(r["forecast"] - expected) <= Decimal("0.01"), as_of
    # Two weeks of history (from 2025-02-15) is enough for a weekday shape; less is not.
    load(con, {("data-platform", "AmazonEMR"): (irregular, date(2025, 2, 15))})
    for as_of, method in ((date(2025, 2, 27), "flat"), (date(2025, 2, 28), "complete"), (date(2025, 3, 3), "weekday")):
        period = periods.of(as_of)
        [r] = rows(build_budget_variance(con, period, as_of)).values()
        assert r["forecast_method"] == method
        month_end = periods.days(period)[-1]
        expected = reference_forecast({d: c for d, c in costs.items() if d >= date(2025, 2, 15)}, as_of, month_end, date(2025, 2, 15))
        assert abs(r["forecast"] - expected) <= Decimal("0.01"), as_of


def test_budget_status_variance_and_service_budgets(con):
    load(
        con,
        {
            ("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1)),   # forecast 2500
            ("checkout", "AmazonS3"): (lambda d: 10.0, date(2025, 2, 1)),  # forecast 310
            ("search", "AmazonEC2"): (step, date(2025, 2, 1)),         # actual to the 10th 1700, forecast 5900
            ("payments", "AWSLambda"): (lambda d: 50.0, date(2025, 2, 1)),  # actual 500, forecast 1550
            ("ads", "AmazonEC2"): (lambda d: 5.0, date(2025, 2, 1)),   # no budget
        },
        budgets=[
            ("2025-03", "checkout", None, Decimal("3000.00"), "USD"),
            ("2025-03", "checkout", "AmazonEC2", Decimal("2400.00"), "USD"),
            ("2025-03", "search", None, Decimal("1500.00"), "USD"),
            ("2025-03", "payments", None, Decimal("0.00"), "USD"),
            ("2025-03", "identity", None, Decimal("100.00"), "USD"),  # a budget, no cost
            ("2025-02", "search", None, Decimal("1.00"), "USD"),      # another month: ignored
        ],
    )
    got = rows(build_budget_variance(con, "2025-03", date(2025, 3, 10)))
    assert set(got) == {("checkout", None), ("checkout", "AmazonEC2"), ("search", None), ("payments", None), ("ads", None), ("identity", None)}

    team = got[("checkout", None)]
    assert (team["budget"], team["actual_mtd"], team["forecast"]) == (Decimal("3000.00"), Decimal("860.00"), Decimal("2810.00"))
    assert (team["variance"], team["status"], team["scope"]) == (Decimal("-190.00"), "on_track", "team")
    assert team["variance_ratio"] == pytest.approx(-190 / 3000)
    assert team["budget_used_ratio"] == pytest.approx(860 / 3000)

    ec2 = got[("checkout", "AmazonEC2")]
    assert (ec2["actual_mtd"], ec2["forecast"], ec2["variance"], ec2["status"], ec2["scope"]) == (
        Decimal("760.00"), Decimal("2500.00"), Decimal("100.00"), "at_risk", "service")

    search = got[("search", None)]
    assert (search["actual_mtd"], search["forecast"], search["variance"], search["status"]) == (
        Decimal("1700.00"), Decimal("5900.00"), Decimal("4400.00"), "over")

    payments = got[("payments", None)]
    assert (payments["status"], payments["variance"], payments["variance_ratio"], payments["ratio_null_reason"]) == (
        "over", Decimal("1550.00"), None, "zero budget")

    ads = got[("ads", None)]
    assert (ads["budget"], ads["status"], ads["variance"], ads["ratio_null_reason"]) == (None, "no_budget", None, "no budget")
    assert ads["forecast"] == Decimal("155.00")

    identity = got[("identity", None)]
    assert (identity["actual_mtd"], identity["forecast"], identity["status"]) == (Decimal("0.00"), Decimal("0.00"), "on_track")

    # A lower at-risk ratio turns checkout's team budget (forecast at 94 % of it) at risk.
    strict = rows(build_budget_variance(con, "2025-03", date(2025, 3, 10), at_risk_ratio=0.9))
    assert strict[("checkout", None)]["status"] == "at_risk"


def test_as_of_defaults_to_the_last_day_with_cost_and_month_end_is_complete(con):
    load(con, {("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1))})
    [r] = rows(build_budget_variance(con, "2025-03")).values()
    assert (r["as_of"], r["forecast_method"], r["actual_mtd"], r["forecast"]) == (date(2025, 3, 31), "complete", Decimal("2500.00"), Decimal("2500.00"))
    [later] = rows(build_budget_variance(con, "2025-03", date(2025, 6, 1))).values()
    assert later["as_of"] == date(2025, 3, 31)


def test_forecast_accuracy_at_checkpoints(con):
    load(con, {("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1)), ("search", "AmazonEC2"): (step, date(2025, 2, 1))})
    got = {(r["team"], r["checkpoint_day"]): r for r in (dict(zip(rel.columns, row)) for rel in [build_forecast_accuracy(con, "2025-03")] for row in rel.fetchall())}
    assert set(got) == {(t, c) for t in ("checkout", "search") for c in (7, 14, 21, 28)}
    # The weekday pattern is forecast exactly from the first checkpoint on.
    assert all(got[("checkout", c)]["forecast_accuracy"] == 1.0 for c in (7, 14, 21, 28))
    assert got[("checkout", 7)]["actual"] == Decimal("2500.00")
    # The step, by hand on day 7: over 2025-02-08..03-07 Tue-Fri average (3 x 100 + 200) / 4 = 125
    # and Sat-Mon 100, so the factors are 1.09375 and 0.875 (mean 800/7); the level is the last
    # week's 1100 over its factors' sum 7; the 24 days left are three weeks plus Sat, Sun, Mon:
    # 21 + 3 x 0.875 = 23.625 factor-days. 1100 + 1100/7 x 23.625 = 4812.50.
    day7 = got[("search", 7)]
    assert (day7["actual_to_date"], day7["forecast"], day7["actual"]) == (Decimal("1100.00"), Decimal("4812.50"), Decimal("5900.00"))
    assert day7["forecast_error"] == Decimal("-1087.50")
    assert day7["forecast_accuracy"] == pytest.approx(1 - 1087.5 / 5900)
    # Later checkpoints: as the independent implementation says, and better as the month goes on
    # (the step bends the weekday shape while it is inside the four-week window).
    costs = {d: step(d) for d in FEB_MAR}
    accuracy = []
    for c in (14, 21, 28):
        expected = reference_forecast(costs, date(2025, 3, c), date(2025, 3, 31), date(2025, 2, 1))
        assert got[("search", c)]["forecast"] == expected
        accuracy.append(got[("search", c)]["forecast_accuracy"])
    assert day7["forecast_accuracy"] < accuracy[0] < accuracy[1] <= accuracy[2] <= 1.0


def test_forecast_accuracy_needs_a_closed_month(con):
    load(con, {("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1))})
    con.execute("DELETE FROM team_cost_daily WHERE usage_date > DATE '2025-03-20'")
    with pytest.raises(InputError, match=r"billing period 2025-03 is not closed: .* has cost up to 2025-03-20"):
        build_forecast_accuracy(con, "2025-03")
    # February is: checkpoint 28 is its last day (the forecast there is the actual) and is left out.
    feb = build_forecast_accuracy(con, "2025-02")
    assert sorted(r[0] for r in feb.project("checkpoint_day").fetchall()) == [7, 14, 21]


def test_gate_budget_actuals_equal_allocated_cost(con):
    load(
        con,
        {("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1)), ("checkout", "AmazonS3"): (lambda d: 10.0, date(2025, 2, 1))},
        budgets=[("2025-03", "checkout", "AmazonS3", Decimal("100.00"), "USD")],
    )
    build_budget_variance(con, "2025-03", date(2025, 3, 10)).create("bv")
    assert check_budget_variance(con, "bv", "2025-03") == []
    con.execute("UPDATE bv SET actual_mtd = actual_mtd + 0.01 WHERE service_code = 'AmazonS3'")
    assert check_budget_variance(con, "bv", "2025-03") == [
        "budget_variance 2025-03: actual_mtd equals allocated cost to date: team='checkout' service_code='AmazonS3': expected 100.00, got 100.01"
    ]
    con.execute("DELETE FROM bv WHERE service_code IS NULL")
    failures = check_budget_variance(con, "bv", "2025-03")
    assert any("team='checkout' service_code=None: expected 860.00, got 0" in f for f in failures)


def test_bad_budgets_are_named(con):
    load(con, {("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1))}, budgets=[
        ("2025-03", "checkout", None, Decimal("10.00"), "USD"),
        ("2025-03", "checkout", None, Decimal("20.00"), "USD"),
    ])
    with pytest.raises(InputError, match=r"(?s)more than one budget.*team='checkout', service_code=None, rows=2"):
        build_budget_variance(con, "2025-03")
    con.execute("DELETE FROM budgets; INSERT INTO budgets VALUES ('2025-03', 'checkout', NULL, 10, 'EUR')")
    with pytest.raises(InputError, match=r"(?s)budgets \('budgets'\): column 'currency' must be 'USD'.*currency='EUR'"):
        build_budget_variance(con, "2025-03")
    con.execute("UPDATE budgets SET currency = 'USD', service_code = ''")
    with pytest.raises(InputError, match=r"empty service_code"):
        build_budget_variance(con, "2025-03")


def test_as_of_after_the_data_is_refused(con):
    load(con, {("checkout", "AmazonEC2"): (periodic, date(2025, 2, 1))})
    con.execute("DELETE FROM team_cost_daily WHERE usage_date > DATE '2025-03-20'")
    with pytest.raises(InputError, match=r"as_of 2025-03-25 is after the last day with cost .* 2025-03-20"):
        build_budget_variance(con, "2025-03", date(2025, 3, 25))
    with pytest.raises(InputError, match=r"no cost for billing period 2025-05"):
        build_budget_variance(con, "2025-05")
