"""expectations/: the GX adapter, DuckDB profiles, SQL checks and the cost_line_items suites."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import duckdb
import great_expectations as gx
import pandas as pd
import pytest

from expectations import adapter, profiles, sql_checks
from expectations.adapter import SuiteFailed, run_suite
from expectations.suites.cost_line_items import CHECKS, check_cost_line_items
from transforms import duck, schema


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    c = duck.connect(s3=False, threads=1)
    yield c
    c.close()


# --- adapter -------------------------------------------------------------------------------


def test_expectation_that_raises_is_a_failure_not_a_pass():
    frame = pd.DataFrame({"team": ["a", "b"]})
    result = run_suite(
        [
            gx.expectations.ExpectColumnValuesToNotBeNull(column="no_such_column"),
            gx.expectations.ExpectColumnValuesToNotBeNull(column="team"),
        ],
        frame,
        "raises",
    )
    assert result.success is False
    missing, team = result.outcomes  # suite order
    assert missing.column == "no_such_column" and missing.success is False
    assert 'The column "no_such_column" in BatchData does not exist' in missing.details["exception"]
    assert team.column == "team" and team.success is True
    assert result.failures() == [missing]
    assert "no_such_column" in result.summary() and "raised an exception" in result.summary()


def test_exception_info_marks_failure_even_when_gx_reports_success(monkeypatch):
    """GX's success flag is not trusted when exception_info says an exception was raised."""
    from great_expectations.datasource.fluent.interfaces import Batch

    original = Batch.validate

    def validate_then_flag(self, expect, *args, **kwargs):
        result = original(self, expect, *args, **kwargs)
        for r in result.results:
            r.success = True
            r.exception_info = {"metric-id": {"raised_exception": True, "exception_message": "boom in metric"}}
        return result

    monkeypatch.setattr(Batch, "validate", validate_then_flag)
    result = run_suite([gx.expectations.ExpectColumnValuesToNotBeNull(column="a")], pd.DataFrame({"a": [1]}), "flagged")
    assert not result.success
    assert result.outcomes[0].details["exception"] == "boom in metric"


def test_gx_failing_as_a_whole_fails_every_expectation(monkeypatch):
    class Broken:
        def get_batch(self, **kwargs):
            raise RuntimeError("datasource exploded")

    monkeypatch.setattr(adapter, "_batch_definition", lambda: Broken())
    result = run_suite(
        [gx.expectations.ExpectColumnValuesToNotBeNull(column="a"), gx.expectations.ExpectColumnToExist(column="a")],
        pd.DataFrame({"a": [1]}),
        "broken",
    )
    assert [o.success for o in result.outcomes] == [False, False]
    assert all("datasource exploded" in o.details["exception"] for o in result.outcomes)


def test_outcomes_name_values_and_rows_by_index_label():
    frame = pd.DataFrame(
        {"team": ["checkout", "chekout", "search", "serch"], "revenue": [1.0, -2.5, 3.0, 4.0]},
        index=pd.Index([2, 3, 4, 5], name="line"),
    )
    suite = gx.ExpectationSuite(
        name="s",
        expectations=[
            gx.expectations.ExpectColumnValuesToBeInSet(column="team", value_set=["checkout", "search"]),
            gx.expectations.ExpectColumnValuesToBeBetween(column="revenue", min_value=0),
            gx.expectations.ExpectTableRowCountToBeBetween(min_value=1, max_value=10),
        ],
    )
    result = run_suite(suite, frame, "metrics.csv")
    team, revenue, count = result.outcomes
    assert (team.success, team.observed, team.details["unexpected_values"], team.details["rows"]) == (
        False, 2, ["chekout", "serch"], [3, 5],
    )
    assert (revenue.success, revenue.details["unexpected_values"], revenue.details["rows"]) == (False, [-2.5], [3])
    assert (count.expectation, count.success, count.observed) == ("expect_table_row_count_to_be_between", True, 4)
    summary = result.summary()
    assert summary.splitlines()[0] == "metrics.csv: FAILED (2 of 3 expectations failed)"
    assert "column 'team': 2 unexpected values: 'chekout', 'serch' at lines 3, 5" in summary
    assert "column 'revenue': 1 unexpected value: -2.5 at line 3" in summary
    with pytest.raises(SuiteFailed, match="chekout"):
        result.raise_if_failed()


def test_passing_suite_and_reuse_of_one_context():
    frame = pd.DataFrame({"a": [1, 2]})
    first = run_suite([gx.expectations.ExpectColumnValuesToNotBeNull(column="a")], frame, "one")
    second = run_suite([gx.expectations.ExpectColumnValuesToNotBeNull(column="a")], frame.assign(a=[1, None]), "two")
    assert first.success and first.summary() == "one: passed (1 expectations)"
    assert not second.success and second.outcomes[0].observed == 1
    assert adapter._batch_definition.cache_info().currsize == 1


def test_importing_expectations_does_not_import_gx():
    code = "import sys, expectations, expectations.suites.cost_line_items, expectations.sql_checks; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- profiles and SQL checks --------------------------------------------------------------


@pytest.fixture()
def small(con):
    con.execute(
        "CREATE TABLE small AS SELECT * FROM (VALUES "
        "('a', 1, 0.10::DECIMAL(18,10)), ('a', NULL, 0.20), ('b', 3, NULL), (NULL, 4, 0.30), ('a', 5, 0.40)"
        ") t(k, n, cost)"
    )
    return "small"


def test_profiles(con, small):
    shape = profiles.schema_frame(con, small)
    assert shape.to_dict("list") == {"column": ["k", "n", "cost"], "type": ["VARCHAR", "INTEGER", "DECIMAL(18,10)"]}
    counts = profiles.categorical_frame(con, small, "k")
    assert {adapter.plain(v): n for v, n in zip(counts["value"], counts["rows"])} == {"a": 3, "b": 1, None: 1}
    nulls = profiles.null_count_frame(con, small, ["k", "n", "cost"])
    assert nulls.to_dict("list") == {"column": ["k", "n", "cost"], "nulls": [1, 1, 1]}
    totals = profiles.totals_frame(con, small, ["n", "cost"]).iloc[0].to_dict()
    assert totals == {"rows": 5, "n": 13, "cost": Decimal("1.00")}
    # A relation works like a table name.
    rel = con.sql("SELECT * FROM small WHERE k = 'a'")
    assert profiles.totals_frame(con, rel, ["cost"]).iloc[0].to_dict() == {"rows": 3, "cost": Decimal("0.70")}


def test_sql_checks(con, small):
    assert sql_checks.row_count_positive(con, small).success
    empty = sql_checks.row_count_positive(con, con.sql("SELECT * FROM small WHERE false"))
    assert (empty.success, empty.observed) == (False, 0)

    exact = sql_checks.sum_equals(con, small, "cost", "1.0")
    assert exact.success and exact.observed == Decimal("1.0000000000")
    off = sql_checks.sum_equals(con, small, "cost", Decimal("1.000001"), tolerance=Decimal("0.0000005"))
    assert not off.success and off.details["difference"] == "-0.0000010000"
    assert sql_checks.sum_equals(con, small, "cost", Decimal("1.000001"), tolerance=Decimal("0.000001")).success

    con.execute("CREATE TABLE keyed AS SELECT * FROM (VALUES (2, 'x', NULL), (3, 'x', NULL), (4, 'x', 's'), (5, 'y', 's'), (6, 'y', 's'), (7, 'y', 's')) t(line, team, svc)")
    dup = sql_checks.no_duplicate_keys(con, "keyed", ["team", "svc"], row_column="line", row_label="line")
    assert (dup.success, dup.observed) == (False, 2)
    assert dup.details["duplicates"] == [
        {"key": {"team": "x", "svc": None}, "count": 2, "lines": [2, 3]},
        {"key": {"team": "y", "svc": "s"}, "count": 3, "lines": [5, 6, 7]},
    ]
    assert "(team='x', svc=null) 2 times at lines 2, 3" in dup.message()
    assert sql_checks.no_duplicate_keys(con, "keyed", ["line"]).success


# --- cost_line_items -----------------------------------------------------------------------

GOOD_ROWS = [
    # payer, line_item_type, charge_category, purchase_option, unblended
    ("111111111111", "Usage", "Usage", "OnDemand", "1.25"),
    ("111111111111", "SavingsPlanCoveredUsage", "Usage", "SavingsPlan", "0.50"),
    ("111111111111", "Tax", "Tax", "OnDemand", "0.08"),
]


def _cost_table(con, name: str, rows, billing_period: str = "2025-01") -> str:
    con.execute(schema.create_table_sql(name))
    for payer, lit, category, option, cost in rows:
        con.execute(
            f'INSERT INTO "{name}" (billing_period, usage_start, usage_date, payer_account_id, usage_account_id, '
            "service_code, line_item_type, charge_category, purchase_option, currency, unblended_cost, "
            "net_unblended_cost, amortized_cost, net_amortized_cost, public_on_demand_cost, source_format, "
            "source_file, delivery_id) VALUES ($bp, TIMESTAMP '2025-01-03 04:00', DATE '2025-01-03', $payer, "
            "'210000000001', 'AmazonEC2', $lit, $cat, $opt, 'USD', $cost, $cost, $cost, $cost, $cost, "
            "'cur2-parquet', 'f.parquet', 'd1')",
            {"bp": billing_period, "payer": payer, "lit": lit, "cat": category, "opt": option, "cost": cost},
        )
    return name


def test_cost_line_items_suite_passes_on_a_good_table(con):
    result = check_cost_line_items(con, _cost_table(con, "good", GOOD_ROWS), "2025-01")
    assert result.success, result.summary()
    checks = {o.details["check"] for o in result.outcomes}
    assert checks == set(CHECKS)
    # each canonical column exists + 1 type comparison + 3 value sets + 1 null count + 1 billing period + 1 row count
    assert len(result.outcomes) == len(schema.COST_LINE_ITEMS) + 7


def test_cost_line_items_unknown_line_item_type_and_null_payer_fail(con):
    rows = [*GOOD_ROWS, ("111111111111", "Bogus", "Usage", "OnDemand", "1"), (None, "Usage", "Usage", "OnDemand", "1"), (None, "Usage", "Usage", "OnDemand", "2")]
    result = check_cost_line_items(con, _cost_table(con, "bad", rows), "2025-01")
    assert not result.success
    failed = {(o.details["check"], o.column): o for o in result.failures()}
    assert set(failed) == {("known_values", "line_item_type"), ("no_null_keys", "nulls")}
    lit = failed["known_values", "line_item_type"]
    assert lit.details["unexpected_values"] == ["Bogus"] and lit.details["rows_per_value"] == {"Bogus": 1}
    nulls = failed["no_null_keys", "nulls"]
    assert nulls.details["rows"] == ["payer_account_id"] and nulls.details["unexpected_values"] == [2]
    summary = result.summary()
    assert "column 'line_item_type'" in summary and "'Bogus'" in summary
    assert "at column 'payer_account_id'" in summary


def test_cost_line_items_schema_and_billing_period(con):
    _cost_table(con, "staged", GOOD_ROWS)
    rel = con.sql('SELECT * EXCLUDE (usage_date, unblended_cost), CAST(unblended_cost AS DOUBLE) AS unblended_cost FROM "staged"')
    result = check_cost_line_items(con, rel, "2025-02")
    failed = {(o.details["check"], o.expectation): o for o in result.failures()}
    assert set(failed) == {
        ("schema", "expect_column_to_exist"),
        ("schema", "expect_column_pair_values_to_be_equal"),
        ("billing_period", "expect_column_values_to_be_in_set"),
    }
    assert failed["schema", "expect_column_to_exist"].column == "usage_date"
    types = failed["schema", "expect_column_pair_values_to_be_equal"]
    assert types.details["rows"] == ["unblended_cost"] and types.details["unexpected_values"] == [["DOUBLE", "DECIMAL(18,10)"]]
    period = failed["billing_period", "expect_column_values_to_be_in_set"]
    assert period.details["rows_per_value"] == {"2025-01": 3}
