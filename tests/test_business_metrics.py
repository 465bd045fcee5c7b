"""business_metrics/: loading, validating and materializing metrics_daily and budgets files."""

from __future__ import annotations

import copy
import csv
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from business_metrics import formats
from business_metrics.load import FileFormatError, load_budgets, load_metrics_daily
from business_metrics.tables import build_budgets, build_metrics_daily
from business_metrics.validate import validate_budgets, validate_metrics_daily
from expectations import SuiteFailed
from transforms import duck, periods
from transforms.generate import org

PERIOD = "2025-02"
HEADER = [f.name for f in formats.METRICS_DAILY]
BUDGET_HEADER = [f.name for f in formats.BUDGETS]


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    c = duck.connect(s3=False, threads=1)
    yield c
    c.close()


def metrics_rows() -> list[dict[str, str]]:
    """Two January rows (one for a retired team), then every team on every day of February."""
    rows = [
        {"date": "2025-01-31", "team": "checkout", "product": "storefront", "revenue": "5.00", "orders": "1",
         "active_users": "1", "requests": "10", "currency": "USD"},
        {"date": "2025-01-31", "team": "retired-team", "product": "storefront", "revenue": "7.00", "orders": "1",
         "active_users": "1", "requests": "10", "currency": "USD"},
    ]
    for d, day in enumerate(periods.days(PERIOD)):
        for t, team in enumerate(org.TEAMS):
            rows.append({
                "date": day.isoformat(), "team": team.name, "product": team.product,
                "revenue": f"{100 + d * 13 + t}.{(d * 7 + t) % 100:02d}", "orders": str(10 + d + t),
                "active_users": str(50 + t), "requests": str(1000 * (t + 1)), "currency": "USD",
            })
    return rows


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def line_of(rows: list[dict], index: int) -> int:
    """CSV line of rows[index]: the header is line 1."""
    return index + 2


def feb_index(rows: list[dict], day: int, team: str) -> int:
    return next(i for i, r in enumerate(rows) if r["date"] == f"{PERIOD}-{day:02d}" and r["team"] == team)


def validate_file(con, path: Path | str, period: list[str] | None = None):
    rel = load_metrics_daily(con, path)
    return validate_metrics_daily(con, rel, str(path), org.TEAM_NAMES, org.PRODUCTS, "USD", period or [PERIOD])


def names_line(text: str, line: int, label: str = "line") -> bool:
    return re.search(rf"\b{label}s? (?:[0-9, ]+, )?{line}\b", text) is not None


# --- metrics_daily: good file ----------------------------------------------------------------


def test_good_metrics_file_passes_and_materializes(con, tmp_path):
    rows = metrics_rows()
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER, rows)
    table, result = build_metrics_daily(
        con, path, known_teams=org.TEAM_NAMES, known_products=org.PRODUCTS, currency="USD", periods=[PERIOD]
    )
    assert result.success, result.summary()
    feb = [r for r in rows if r["date"].startswith(PERIOD)]
    assert len(feb) == 28 * len(org.TEAMS)
    got = con.execute(
        "SELECT count(*), sum(revenue), sum(orders), sum(requests), min(billing_period), max(billing_period) "
        "FROM business_metrics_daily"
    ).fetchall()[0]
    assert got == (
        len(feb),
        sum(Decimal(r["revenue"]) for r in feb),
        sum(int(r["orders"]) for r in feb),
        sum(int(r["requests"]) for r in feb),
        PERIOD,
        PERIOD,
    )
    assert dict(zip(table.columns, map(str, table.types))) == {
        "billing_period": "VARCHAR", "date": "DATE", "team": "VARCHAR", "product": "VARCHAR",
        "revenue": "DECIMAL(18,4)", "orders": "BIGINT", "active_users": "BIGINT", "requests": "BIGINT",
        "currency": "VARCHAR",
    }


def test_rows_keep_their_csv_line_numbers(con, tmp_path):
    rows = metrics_rows()
    path = write_csv(tmp_path / "m.csv", HEADER, rows)
    rel = load_metrics_daily(con, path)
    i = feb_index(rows, 17, "ads")
    (found,) = rel.filter("team = 'ads' AND date = DATE '2025-02-17'").select("source_row, revenue").fetchall()
    assert found == (line_of(rows, i), Decimal(rows[i]["revenue"]))
    assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchall() == [(False,)]


# --- metrics_daily: each defect names file, line and column ---------------------------------


def _unknown_team(rows):
    i = feb_index(rows, 3, "checkout")
    rows[i]["team"] = "chekout"
    return i, ["column 'team'", "'chekout'"]


def _unknown_product(rows):
    i = feb_index(rows, 9, "ads")
    rows[i]["product"] = "adz"
    return i, ["column 'product'", "'adz'"]


def _negative_revenue(rows):
    i = feb_index(rows, 5, "search")
    rows[i]["revenue"] = "-12.50"
    return i, ["column 'revenue'", "-12.5", "not negative"]


def _negative_orders(rows):
    i = feb_index(rows, 6, "identity")
    rows[i]["orders"] = "-3"
    return i, ["column 'orders'", "-3"]


def _currency_mismatch(rows):
    i = feb_index(rows, 20, "payments")
    rows[i]["currency"] = "EUR"
    return i, ["column 'currency'", "'EUR'", "billing currency USD"]


def _missing_value(rows):
    i = feb_index(rows, 11, "catalog")
    rows[i]["product"] = ""
    return i, ["column 'product'", "required value", "null"]


@pytest.mark.parametrize(
    "defect", [_unknown_team, _unknown_product, _negative_revenue, _negative_orders, _currency_mismatch, _missing_value]
)
def test_row_defects_name_file_line_and_column(con, tmp_path, defect):
    rows = metrics_rows()
    index, expected = defect(rows)
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER, rows)
    result = validate_file(con, path)
    assert not result.success
    summary = result.summary()
    assert str(path) in summary.splitlines()[0]
    (failure,) = [o for o in result.failures() if o.expectation.startswith("expect_")]
    assert failure.details["rows"] == [line_of(rows, index)]
    assert names_line(failure.message(), line_of(rows, index)), failure.message()
    for text in expected:
        assert text in failure.message()


def test_duplicate_key_names_both_lines(con, tmp_path):
    rows = metrics_rows()
    i = feb_index(rows, 14, "mobile-api")
    rows.append(copy.deepcopy(rows[i]))
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER, rows)
    result = validate_file(con, path)
    (failure,) = result.failures()
    assert failure.expectation == "no_duplicate_keys" and failure.column == "date, team, product"
    assert failure.details["duplicates"] == [{
        "key": {"date": date(2025, 2, 14), "team": "mobile-api", "product": "marketplace"},
        "count": 2,
        "lines": [line_of(rows, i), len(rows) + 1],
    }]
    assert f"at lines {line_of(rows, i)}, {len(rows) + 1}" in result.summary()
    assert str(path) in result.summary()


def test_missing_day_names_team_and_date(con, tmp_path):
    rows = metrics_rows()
    del rows[feb_index(rows, 28, "notifications")]
    del rows[feb_index(rows, 1, "ads")]
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER, rows)
    result = validate_file(con, path)
    (failure,) = result.failures()
    assert (failure.expectation, failure.column, failure.observed) == ("missing_days", "date", 2)
    assert failure.details["missing"] == [
        {"team": "ads", "date": "2025-02-01"},
        {"team": "notifications", "date": "2025-02-28"},
    ]
    assert "team 'ads' on 2025-02-01" in result.summary() and str(path) in result.summary()


def test_only_requested_periods_are_checked(con, tmp_path):
    rows = metrics_rows()
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER, rows)
    assert validate_file(con, path, [PERIOD]).success
    both = validate_file(con, path, ["2025-01", PERIOD])
    teams = [o for o in both.failures() if o.column == "team"]
    assert teams[0].details["unexpected_values"] == ["retired-team"] and teams[0].details["rows"] == [3]
    missing = [o for o in both.failures() if o.expectation == "missing_days"][0]
    # January: every team misses 30 days, and all but checkout the 31st too.
    assert missing.observed == 31 * len(org.TEAMS) - 1


# --- metrics_daily: files that cannot be loaded ---------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("orders", "1.5", "is not a whole number"),
        ("active_users", "many", "is not a whole number"),
        ("revenue", "12,50", "is not a number with at most 4 decimal places"),
        ("revenue", "1.00005", "is not a number with at most 4 decimal places"),
        ("date", "2025-02-30", "is not a date (YYYY-MM-DD)"),
        ("date", "02/03/2025", "is not a date (YYYY-MM-DD)"),
    ],
)
def test_wrong_type_names_file_line_and_column(con, tmp_path, column, value, problem):
    rows = metrics_rows()
    i = feb_index(rows, 4, "search")
    rows[i][column] = value
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER, rows)
    with pytest.raises(FileFormatError) as err:
        load_metrics_daily(con, path)
    assert str(err.value) == (
        f"{path}: 1 unparsable value:\n  line {line_of(rows, i)}, column {column!r}: {value!r} {problem}"
        + (" and 14 integer digits" if column == "revenue" else "")
    )


def test_several_bad_values_are_listed_in_line_order(con, tmp_path):
    rows = metrics_rows()
    a, b = feb_index(rows, 2, "ads"), feb_index(rows, 1, "search")
    rows[a]["orders"], rows[b]["requests"] = "x", "y"
    path = write_csv(tmp_path / "m.csv", HEADER, rows)
    with pytest.raises(FileFormatError, match="2 unparsable values") as err:
        load_metrics_daily(con, path)
    lines = str(err.value).splitlines()[1:]
    assert lines == [
        f"  line {line_of(rows, b)}, column 'requests': 'y' is not a whole number",
        f"  line {line_of(rows, a)}, column 'orders': 'x' is not a whole number",
    ]


def test_missing_column_names_file_header_and_column(con, tmp_path):
    rows = [{k: v for k, v in r.items() if k != "currency"} for r in metrics_rows()]
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER[:-1], rows)
    with pytest.raises(FileFormatError) as err:
        load_metrics_daily(con, path)
    assert str(err.value) == (
        f"{path}: line 1 (header): missing column 'currency' "
        "(columns found: date, team, product, revenue, orders, active_users, requests)"
    )


def test_record_with_wrong_number_of_fields_names_its_line(con, tmp_path):
    path = write_csv(tmp_path / "m.csv", HEADER, metrics_rows())
    lines = path.read_text().splitlines(keepends=True)
    lines[6] = lines[6].rstrip("\n").rsplit(",", 1)[0] + "\n"  # drop the currency field of line 7
    path.write_text("".join(lines))
    with pytest.raises(FileFormatError) as err:
        load_metrics_daily(con, path)
    message = str(err.value)
    assert message.startswith(f"{path}: cannot be read: CSV Error on Line: 7;")
    assert "Expected Number of Columns: 8 Found: 7" in message


def test_header_matching_ignores_case_and_extra_columns(con, tmp_path):
    rows = [{"Note": "x", **{k.upper(): v for k, v in r.items()}} for r in metrics_rows()]
    path = write_csv(tmp_path / "m.csv", ["Note", *(h.upper() for h in HEADER)], rows)
    assert validate_file(con, path).success


def test_blank_line_or_multiline_record_is_refused(con, tmp_path):
    path = write_csv(tmp_path / "m.csv", HEADER, metrics_rows())
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:5] + ["\n"] + lines[5:]))
    with pytest.raises(FileFormatError, match=rf"m\.csv: {len(lines) + 1} lines hold a header and {len(lines) - 1} records"):
        load_metrics_daily(con, path)
    # Trailing blank lines are harmless.
    path.write_text("".join(lines) + "\n\n")
    assert load_metrics_daily(con, path).aggregate("count(*)").fetchall() == [(len(lines) - 1,)]


def test_unsupported_or_absent_file(con, tmp_path):
    with pytest.raises(FileFormatError, match=r"metrics\.xlsx: unsupported file type"):
        load_metrics_daily(con, tmp_path / "metrics.xlsx")
    with pytest.raises(FileFormatError, match=r"nope\.csv: file not found"):
        load_metrics_daily(con, tmp_path / "nope.csv")


def test_parquet_file_names_rows(con, tmp_path):
    rows = metrics_rows()
    i = feb_index(rows, 8, "search")
    rows[i]["team"] = "serch"
    csv_path = write_csv(tmp_path / "m.csv", HEADER, rows)
    parquet = tmp_path / "metrics_daily.parquet"
    # Typed Parquet, as a user's pipeline would write it.
    con.execute(
        "COPY (SELECT CAST(date AS DATE) AS date, team, product, CAST(revenue AS DECIMAL(12,2)) AS revenue, "
        "CAST(orders AS INTEGER) AS orders, CAST(active_users AS INTEGER) AS active_users, "
        "CAST(requests AS BIGINT) AS requests, currency FROM read_csv($csv, all_varchar = true)) "
        "TO $out (FORMAT parquet)",
        {"csv": str(csv_path), "out": str(parquet)},
    )
    result = validate_file(con, parquet)
    (team,) = [o for o in result.failures() if o.column == "team"]
    assert team.details["rows"] == [i + 1] and team.details["row_label"] == "row"
    assert f"'serch' at row {i + 1}" in result.summary() and str(parquet) in result.summary()


# --- budgets ---------------------------------------------------------------------------------


def budget_rows() -> list[dict[str, str]]:
    rows = []
    for t, team in enumerate(org.TEAMS):
        rows.append({"billing_period": PERIOD, "team": team.name, "service_code": "", "budget": f"{1000 + 250 * t}.00", "currency": "USD"})
        rows.append({"billing_period": PERIOD, "team": team.name, "service_code": "AmazonEC2", "budget": f"{400 + 10 * t}.50", "currency": "USD"})
    rows.append({"billing_period": "2025-03", "team": "checkout", "service_code": "", "budget": "999.99", "currency": "USD"})
    return rows


def validate_budget_file(con, path: Path):
    return validate_budgets(con, load_budgets(con, path), str(path), org.TEAM_NAMES, "USD", [PERIOD])


def test_good_budgets_pass_and_materialize(con, tmp_path):
    rows = budget_rows()
    path = write_csv(tmp_path / "budgets.csv", BUDGET_HEADER, rows)
    table, result = build_budgets(con, path, known_teams=org.TEAM_NAMES, currency="USD", periods=[PERIOD])
    assert result.success, result.summary()
    feb = [r for r in rows if r["billing_period"] == PERIOD]
    team_wide = sum(Decimal(r["budget"]) for r in feb if not r["service_code"])
    by_service = sum(Decimal(r["budget"]) for r in feb if r["service_code"])
    got = con.execute(
        "SELECT count(*), sum(budget) FILTER (WHERE service_code IS NULL), sum(budget) FILTER (WHERE service_code = 'AmazonEC2') FROM budgets"
    ).fetchall()[0]
    assert got == (len(feb), team_wide, by_service)
    assert dict(zip(table.columns, map(str, table.types))) == {
        "billing_period": "VARCHAR", "team": "VARCHAR", "service_code": "VARCHAR",
        "budget": "DECIMAL(18,2)", "currency": "VARCHAR",
    }


def _second_team_wide_budget(rows):
    rows.append(dict(rows[0]))
    return None, ["no_duplicate_keys", "service_code=null", f"lines 2, {len(rows) + 1}"]


def _negative_budget(rows):
    rows[3]["budget"] = "-5.00"
    return 3, ["column 'budget'", "-5"]


def _budget_unknown_team(rows):
    rows[4]["team"] = "Search"
    return 4, ["column 'team'", "'Search'"]


def _service_name_not_code(rows):
    rows[5]["service_code"] = "Amazon Elastic Compute Cloud"
    return 5, ["column 'service_code'", "'Amazon Elastic Compute Cloud'"]


def _budget_currency(rows):
    rows[6]["currency"] = "usd"
    return 6, ["column 'currency'", "'usd'"]


@pytest.mark.parametrize(
    "defect", [_second_team_wide_budget, _negative_budget, _budget_unknown_team, _service_name_not_code, _budget_currency]
)
def test_budget_defects_name_file_line_and_column(con, tmp_path, defect):
    rows = budget_rows()
    index, expected = defect(rows)
    path = write_csv(tmp_path / "budgets.csv", BUDGET_HEADER, rows)
    result = validate_budget_file(con, path)
    (failure,) = result.failures()
    if index is not None:
        assert failure.details["rows"] == [line_of(rows, index)]
    for text in expected:
        assert text in failure.message(), failure.message()
    assert str(path) in result.summary()


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("budget", "1000.005", "is not a number with at most 2 decimal places and 16 integer digits"),
        ("billing_period", "2025-13", "is not a billing period (YYYY-MM)"),
        ("billing_period", "2025-2", "is not a billing period (YYYY-MM)"),
    ],
)
def test_budget_values_that_do_not_parse(con, tmp_path, column, value, problem):
    rows = budget_rows()
    rows[7][column] = value
    path = write_csv(tmp_path / "budgets.csv", BUDGET_HEADER, rows)
    with pytest.raises(FileFormatError) as err:
        load_budgets(con, path)
    assert str(err.value) == f"{path}: 1 unparsable value:\n  line 9, column {column!r}: {value!r} {problem}"


# --- the gate ------------------------------------------------------------------------------


def test_failed_gate_stops_the_curated_table(con, tmp_path):
    rows = metrics_rows()
    rows[feb_index(rows, 2, "ads")]["revenue"] = "-1"
    path = write_csv(tmp_path / "metrics_daily.csv", HEADER, rows)
    with pytest.raises(SuiteFailed) as err:
        build_metrics_daily(con, path, known_teams=org.TEAM_NAMES, known_products=org.PRODUCTS, currency="USD", periods=[PERIOD])
    assert "column 'revenue'" in str(err.value) and str(path) in str(err.value)
    assert not err.value.result.success
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name = 'business_metrics_daily'").fetchall()
    assert tables == []


# --- s3 --------------------------------------------------------------------------------------


def test_load_and_validate_from_s3(tmp_path, s3_bucket, s3_endpoint):
    """s3:// goes through the s3fs filesystem duck.connect registers (tests/conftest.py's moto server)."""
    import boto3

    rows = metrics_rows()
    i = feb_index(rows, 12, "payments")
    rows[i]["currency"] = "EUR"
    body = write_csv(tmp_path / "m.csv", HEADER, rows).read_bytes()
    bucket = s3_bucket.removeprefix("s3://")
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(Bucket=bucket, Key="business_metrics/metrics_daily.csv", Body=body)
    url = f"{s3_bucket}/business_metrics/metrics_daily.csv"
    con = duck.connect(threads=1)
    try:
        result = validate_file(con, url)
    finally:
        con.close()
    (failure,) = result.failures()
    assert failure.details["rows"] == [line_of(rows, i)] and url in result.summary()


# --- the documented format -------------------------------------------------------------------


def test_readme_documents_every_column_with_its_type():
    readme = (Path(formats.__file__).parent / "README.md").read_text()
    for field in (*formats.METRICS_DAILY, *formats.BUDGETS):
        row = f"| `{field.name}` | {field.type} | {'yes' if field.required else 'no'} |"
        assert row in readme, row
